"""Builds the encoder a bundle's manifest names (demo or open_clip); the one place encoders are chosen."""
from __future__ import annotations

from pathlib import Path

ENCODER_TYPES = ("demo", "open_clip")


def load_encoder(spec: dict, bundle_dir: Path):
    """spec is manifest["encoder"]: {"type": "demo", "tower": "image_tower.pt", …} or
    {"type": "open_clip", "model": "mobileclip-s1", "weights": path-or-None, …}."""
    kind = spec.get("type")
    if kind == "demo":
        from backend.encoders.demo import DemoEncoder
        return DemoEncoder.load(Path(bundle_dir) / spec["tower"])
    if kind == "open_clip":
        from backend.encoders.openclip import OpenClipEncoder
        return OpenClipEncoder.load(spec["model"], spec.get("weights"))
    raise ValueError(f"unknown encoder type {kind!r} in the bundle manifest; allowed: {', '.join(ENCODER_TYPES)}")
