"""open_clip encoder (MobileCLIP S1/S2/B, MobileCLIP2, ViT-B-32 laion2b) loaded offline from the HF cache or a local file/dir."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch

from backend.encoders.base import l2_normalise

log = logging.getLogger(__name__)

HF_PREFIX = "hf-hub:"
CONFIG_NAME = "open_clip_config.json"
# Weight files open_clip looks for, best first (safetensors before pickles), plus training checkpoints.
WEIGHT_NAMES: tuple[str, ...] = (
    "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "checkpoint.pt", "epoch_latest.pt",
)
WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class OpenClipVariant:
    """A registered model: open_clip architecture name plus pretrained tag (as in open_clip.list_pretrained())."""

    arch: str
    tag: Optional[str]


# Tags checked against open_clip 3.3.0's open_clip.list_pretrained().
REGISTRY: dict[str, OpenClipVariant] = {
    "mobileclip-s1": OpenClipVariant("MobileCLIP-S1", "datacompdr"),
    "mobileclip-s2": OpenClipVariant("MobileCLIP-S2", "datacompdr"),
    "mobileclip-b": OpenClipVariant("MobileCLIP-B", "datacompdr"),
    "mobileclip2-s0": OpenClipVariant("MobileCLIP2-S0", "dfndr2b"),
    "mobileclip2-s2": OpenClipVariant("MobileCLIP2-S2", "dfndr2b"),
    "mobileclip2-b": OpenClipVariant("MobileCLIP2-B", "dfndr2b"),
    "vit-b-32": OpenClipVariant("ViT-B-32", "laion2b_s34b_b79k"),
}


def hf_cache_dir(cache_dir: Union[str, Path, None] = None) -> Path:
    """The Hugging Face hub cache: explicit arg, else $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def _cached_file(repo_id: str, filename: str, cache_dir: Path) -> Optional[Path]:
    """Path of `filename` of `repo_id` in the local HF cache, or None. Never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir))
    return Path(found) if isinstance(found, str) else None


def _find_weights_in_dir(directory: Path) -> Optional[Path]:
    for name in WEIGHT_NAMES:
        if (directory / name).is_file():
            return directory / name
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if len(files) > 1:
        raise ValueError(f"weights directory {directory} holds several checkpoints {[p.name for p in files]}; "
                         f"expected one of {WEIGHT_NAMES} or a single *{'/*'.join(WEIGHT_SUFFIXES)} file — pass the file itself")
    return files[0] if files else None


def _resolve_device(device: Union[str, torch.device, None]) -> torch.device:
    if isinstance(device, torch.device):
        return device
    from backend.device import pick_device
    return pick_device(device)


class OpenClipEncoder:
    """Encoder over an open_clip model: L2-normalised float32 text and image embeddings."""

    def __init__(self, model: torch.nn.Module, preprocess: Callable, tokenizer: Callable, name: str,
                 device: Union[str, torch.device, None] = None, batch_size: int = 64):
        self.name = name
        self.device = _resolve_device(device) if device is not None else next(model.parameters()).device
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.dim = int(self._encode_text_batch([""]).shape[1])

    # ---- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: torch.nn.Module, preprocess: Callable, tokenizer: Callable, name: str,
                   device: Union[str, torch.device, None] = None) -> "OpenClipEncoder":
        """Wrap an already built open_clip model (tests, notebooks)."""
        return cls(model, preprocess, tokenizer, name, device=device)

    @classmethod
    def load(cls, name_or_arch: str, weights: Union[str, Path, None] = None,
             device: Union[str, torch.device, None] = None,
             cache_dir: Union[str, Path, None] = None) -> "OpenClipEncoder":
        """Build from a registry key ("mobileclip-s1"), an open_clip arch ("ViT-B-32") or "hf-hub:org/name".

        weights=None: the Hugging Face cache (offline only); a file (.safetensors/.bin/.pt/.pth): that checkpoint;
        a directory: its open_clip_config.json + weights (HF snapshot layout) or a single checkpoint file.
        Never downloads: missing weights raise ValueError saying where we looked and how to provide them.
        """
        import open_clip

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        t0 = time.perf_counter()
        dev = _resolve_device(device)
        precision = "fp16" if dev.type == "cuda" else "fp32"
        variant, name = cls._variant(name_or_arch)
        overrides = cls._preprocess_overrides(variant)

        if weights is not None:
            path = Path(weights).expanduser()
            if not path.exists():
                raise ValueError(f"weights path {str(path)!r} for {name_or_arch!r} does not exist; expected a "
                                 f"checkpoint file ({', '.join(WEIGHT_SUFFIXES)}) or a directory holding one")
            if path.is_dir() and (path / CONFIG_NAME).is_file():
                model_id = f"local-dir:{path}"
                model, _, preprocess = open_clip.create_model_and_transforms(model_id, device=dev, precision=precision)
                tokenizer = open_clip.get_tokenizer(model_id)
                log.info("open_clip %s loaded from dir %s in %.1fs", name, path, time.perf_counter() - t0)
                return cls(model, preprocess, tokenizer, name, device=dev)
            ckpt = _find_weights_in_dir(path) if path.is_dir() else path
            if ckpt is None:
                raise ValueError(f"weights directory {str(path)!r} holds neither {CONFIG_NAME} nor a checkpoint; "
                                 f"expected one of {WEIGHT_NAMES} or a single *{'/*'.join(WEIGHT_SUFFIXES)} file")
            if variant is None:
                raise ValueError(f"{name_or_arch!r} names no architecture, so a bare checkpoint {str(ckpt)!r} cannot be "
                                 f"loaded; give an open_clip arch (e.g. 'ViT-B-32') or a registry key "
                                 f"({', '.join(REGISTRY)}), or a directory with {CONFIG_NAME}")
            return cls._from_file(variant, ckpt, name, dev, precision, overrides, t0)

        # weights=None -> local Hugging Face cache only
        cache = hf_cache_dir(cache_dir)
        repo_id, filenames = cls._hf_location(name_or_arch, variant)
        if repo_id is None:
            raise ValueError(f"{name_or_arch!r} has no pretrained tag, so there is nothing to look up in the HF cache; "
                             f"pass weights=<checkpoint file or dir>, or use a registry key ({', '.join(REGISTRY)})")
        if name_or_arch.startswith(HF_PREFIX):
            cfg = _cached_file(repo_id, CONFIG_NAME, cache)
            ckpt = next((p for p in (_cached_file(repo_id, f, cache) for f in filenames) if p is not None), None)
            if cfg is not None and ckpt is not None:
                snapshot = cfg.parent
                model_id = f"local-dir:{snapshot}"
                model, _, preprocess = open_clip.create_model_and_transforms(model_id, device=dev, precision=precision)
                tokenizer = open_clip.get_tokenizer(model_id)
                log.info("open_clip %s loaded from HF cache %s in %.1fs", name, snapshot, time.perf_counter() - t0)
                return cls(model, preprocess, tokenizer, name, device=dev)
        else:
            ckpt = next((p for p in (_cached_file(repo_id, f, cache) for f in filenames) if p is not None), None)
            if ckpt is not None:
                return cls._from_file(variant, ckpt, name, dev, precision, overrides, t0)
        wanted = ([CONFIG_NAME] if name_or_arch.startswith(HF_PREFIX) else []) + [f"one of {list(filenames)}"]
        raise ValueError(
            f"weights for {name_or_arch!r} not found offline: looked in the Hugging Face cache {str(cache)!r} for repo "
            f"{repo_id!r} ({' and '.join(wanted)}). Provide them with `huggingface-cli download {repo_id}` on a machine "
            f"with network (set HF_HUB_CACHE to that cache), or pass weights=<local file or directory>.")

    # ---- helpers -----------------------------------------------------------------------------------------------
    @staticmethod
    def _variant(name_or_arch: str) -> tuple[Optional[OpenClipVariant], str]:
        import open_clip

        if name_or_arch.startswith(HF_PREFIX):
            return None, name_or_arch
        key = name_or_arch.lower()
        if key in REGISTRY:
            return REGISTRY[key], key
        arch, _, tag = name_or_arch.partition("/")
        if arch in open_clip.list_models():
            if tag and tag not in open_clip.list_pretrained_tags_by_model(arch):
                raise ValueError(f"unknown pretrained tag {tag!r} for {arch!r}; "
                                 f"allowed: {open_clip.list_pretrained_tags_by_model(arch)}")
            return OpenClipVariant(arch, tag or None), name_or_arch
        raise ValueError(f"unknown open_clip model {name_or_arch!r}; allowed: a registry key ({', '.join(REGISTRY)}), "
                         f"an open_clip arch[/tag] from open_clip.list_models(), or 'hf-hub:org/name'")

    @staticmethod
    def _hf_location(name_or_arch: str, variant: Optional[OpenClipVariant]) -> tuple[Optional[str], tuple[str, ...]]:
        """(repo_id, candidate weight filenames) of the HF repo that holds the weights."""
        if name_or_arch.startswith(HF_PREFIX):
            return name_or_arch[len(HF_PREFIX):], WEIGHT_NAMES[:4]
        if variant is None or variant.tag is None:
            return None, ()
        from open_clip.pretrained import get_pretrained_cfg

        hub = get_pretrained_cfg(variant.arch, variant.tag).get("hf_hub", "")
        if not hub:
            return None, ()
        repo_id, filename = os.path.split(hub)  # 'org/name/' (default file names) or 'org/name/file.bin'
        if not filename:
            return repo_id, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
        return repo_id, (f"{filename.rsplit('.', 1)[0]}.safetensors", filename)

    @staticmethod
    def _preprocess_overrides(variant: Optional[OpenClipVariant]) -> dict:
        """Image mean/std/interpolation of the pretrained tag (lost when open_clip is handed a bare file path)."""
        if variant is None or variant.tag is None:
            return {}
        from open_clip.pretrained import get_pretrained_cfg

        cfg = get_pretrained_cfg(variant.arch, variant.tag)
        out = {}
        for src, dst in (("mean", "image_mean"), ("std", "image_std"),
                         ("interpolation", "image_interpolation"), ("resize_mode", "image_resize_mode")):
            if cfg.get(src) is not None:
                out[dst] = cfg[src]
        return out

    @classmethod
    def _from_file(cls, variant: OpenClipVariant, ckpt: Path, name: str, dev: torch.device, precision: str,
                   overrides: dict, t0: float) -> "OpenClipEncoder":
        import open_clip

        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                variant.arch, pretrained=str(ckpt), device=dev, precision=precision, **overrides)
        except RuntimeError as e:  # state_dict mismatch, corrupt file
            raise ValueError(f"could not load checkpoint {str(ckpt)!r} into open_clip {variant.arch!r}: {e}") from e
        tokenizer = open_clip.get_tokenizer(variant.arch)
        log.info("open_clip %s (%s) loaded from %s in %.1fs", name, variant.arch, ckpt, time.perf_counter() - t0)
        return cls(model, preprocess, tokenizer, name, device=dev)

    # ---- encoding ----------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _encode_text_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(self.device)  # (B, context_length), truncated by the tokenizer
        return self.model.encode_text(tokens).float().cpu().numpy()

    @torch.inference_mode()
    def _encode_image_batch(self, images: list) -> np.ndarray:
        pixels = torch.stack([self.preprocess(im.convert("RGB")) for im in images])  # (B, 3, H, W)
        return self.model.encode_image(pixels.to(self.device, self.dtype)).float().cpu().numpy()

    def _batched(self, items: list, fn: Callable[[list], np.ndarray]) -> np.ndarray:
        if len(items) == 0:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        out = [fn(items[i:i + self.batch_size]) for i in range(0, len(items), self.batch_size)]
        return l2_normalise(np.concatenate(out, axis=0))  # (N, dim)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """(N, dim) float32, rows L2-normalised; long texts are truncated to the model's context length."""
        return self._batched([str(t) for t in texts], self._encode_text_batch)

    def encode_image(self, images: list) -> np.ndarray:
        """(N, dim) float32 from PIL images, rows L2-normalised."""
        return self._batched(list(images), self._encode_image_batch)
