"""The precomputed bundle on disk: manifest with shapes and hashes, metaverse metadata, arrays; save, verify, load."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.collection import Collection, MetaverseInfo

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METAVERSES = "metaverses.json"
REBUILD_HINT = "python -m backend build demo"

# name in the bundle -> (Collection attribute, dtype on disk)
COLLECTION_ARRAYS: dict[str, tuple[str, str]] = {
    "image_feats.npy": ("image_feats", "float16"),
    "room_image_offsets.npy": ("room_image_offsets", "int64"),
    "metaverse_room_offsets.npy": ("metaverse_room_offsets", "int64"),
    "sentence_embs.npy": ("sentence_embs", "float16"),
    "paragraph_sentence_offsets.npy": ("paragraph_sentence_offsets", "int64"),
    "metaverse_paragraph_offsets.npy": ("metaverse_paragraph_offsets", "int64"),
}
EXPERT_ARRAY = "expert_feats.npy"


class BundleError(RuntimeError):
    """A missing, partial, corrupt or mismatched bundle. The message names the file and how to rebuild."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class Bundle:
    """A loaded bundle: the collection plus the manifest (encoder, rankers, reports) and its directory."""

    path: Path
    manifest: dict
    collection: Collection

    @property
    def encoder_spec(self) -> dict:
        return self.manifest["encoder"]

    def artifact(self, name: str) -> Path:
        """Path of an artifact the manifest lists; BundleError if it does not."""
        if name not in self.manifest.get("artifacts", {}):
            raise BundleError(f"{self.path / MANIFEST} does not list {name!r}; rebuild with `{REBUILD_HINT}`")
        return self.path / name

    def load_array(self, name: str) -> np.ndarray:
        return np.load(self.artifact(name), allow_pickle=False)


@dataclass
class BundleWriter:
    """Writes artifacts into a staging directory, records them in the manifest, then swaps the directory in."""

    out_dir: Path
    manifest: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out_dir = Path(self.out_dir)
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._stage = Path(tempfile.mkdtemp(prefix=".bundle-", dir=self.out_dir.parent))
        self.manifest.setdefault("artifacts", {})

    @property
    def stage(self) -> Path:
        return self._stage

    def _record(self, name: str, shape, dtype: str) -> None:
        self.manifest["artifacts"][name] = {
            "shape": list(shape) if shape is not None else None, "dtype": dtype,
            "sha256": sha256_file(self._stage / name), "bytes": (self._stage / name).stat().st_size,
        }

    def add_array(self, name: str, arr: np.ndarray, dtype: Optional[str] = None) -> None:
        arr = np.ascontiguousarray(arr, dtype=dtype or arr.dtype)
        np.save(self._stage / name, arr, allow_pickle=False)
        self._record(name, arr.shape, str(arr.dtype))

    def add_json(self, name: str, obj) -> None:
        (self._stage / name).write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        self._record(name, None, "json")

    def add_file(self, name: str, writer) -> None:
        """writer(path) writes the artifact (e.g. torch.save)."""
        writer(self._stage / name)
        self._record(name, None, "file")

    def add_collection(self, col: Collection) -> None:
        col.validate()
        for name, (attr, dtype) in COLLECTION_ARRAYS.items():
            self.add_array(name, getattr(col, attr), dtype)
        if col.expert_feats is not None:
            self.add_array(EXPERT_ARRAY, col.expert_feats, "float16")
        self.add_json(METAVERSES, [m.to_json() for m in col.metaverses])
        self.manifest["counts"] = {
            "metaverses": col.n_metaverses,
            "museums": sum(m.kind == "museum" for m in col.metaverses),
            "games": sum(m.kind == "game" for m in col.metaverses),
            "rooms": col.n_rooms, "images": int(len(col.image_feats)), "sentences": int(len(col.sentence_embs)),
            "feature_dim": int(col.image_feats.shape[1]),
        }

    def commit(self) -> Path:
        """Write the manifest and atomically replace out_dir (the old bundle survives any earlier failure)."""
        self.manifest["format_version"] = FORMAT_VERSION
        self.manifest.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        (self._stage / MANIFEST).write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False))
        keep = [p for p in self.out_dir.iterdir() if p.name.startswith(".git")] if self.out_dir.exists() else []
        if keep:
            raise BundleError(f"refusing to replace {self.out_dir}: it holds {keep[0].name}")
        old = None
        if self.out_dir.exists():
            old = self.out_dir.with_name(self.out_dir.name + ".old")
            if old.exists():
                _rmtree(old)
            os.replace(self.out_dir, old)
        os.replace(self._stage, self.out_dir)
        if old is not None:
            _rmtree(old)
        log.info("bundle written to %s", self.out_dir)
        return self.out_dir

    def abort(self) -> None:
        _rmtree(self._stage)


def _rmtree(p: Path) -> None:
    import shutil
    shutil.rmtree(p, ignore_errors=True)


def read_manifest(path: Path) -> dict:
    path = Path(path)
    mpath = path / MANIFEST
    if not path.exists():
        raise BundleError(f"bundle directory {path} does not exist; build it with `{REBUILD_HINT}`")
    if not mpath.exists():
        raise BundleError(f"{mpath} is missing, so {path} is not a complete bundle; rebuild it with `{REBUILD_HINT}`")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BundleError(f"{mpath} is not valid JSON ({e}); rebuild with `{REBUILD_HINT}`") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{mpath} has format_version {manifest.get('format_version')!r}, this app reads "
                          f"{FORMAT_VERSION}; rebuild with `{REBUILD_HINT}`")
    for key in ("artifacts", "encoder"):
        if key not in manifest:
            raise BundleError(f"{mpath} has no {key!r} entry; rebuild with `{REBUILD_HINT}`")
    return manifest


def verify_artifacts(path: Path, manifest: dict, check_hashes: bool = True) -> None:
    """Every artifact exists, has the recorded size and (optionally) hash."""
    for name, meta in manifest["artifacts"].items():
        f = path / name
        if not f.exists():
            raise BundleError(f"{f} is missing (listed in {MANIFEST}); the bundle is partial — rebuild with `{REBUILD_HINT}`")
        if "bytes" in meta and f.stat().st_size != meta["bytes"]:
            raise BundleError(f"{f} has {f.stat().st_size} bytes, the manifest says {meta['bytes']}; "
                              f"rebuild with `{REBUILD_HINT}`")
        if check_hashes and sha256_file(f) != meta["sha256"]:
            raise BundleError(f"{f} does not match its sha256 in {MANIFEST} (corrupt or edited); rebuild with `{REBUILD_HINT}`")


def load_bundle(path: Path | str, check_hashes: bool = True) -> Bundle:
    """Read, verify and return a bundle. Raises BundleError naming the file and the rebuild command."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_artifacts(path, manifest, check_hashes)
    arrays = {}
    for name, (attr, _) in COLLECTION_ARRAYS.items():
        if name not in manifest["artifacts"]:
            raise BundleError(f"{path / MANIFEST} does not list {name}; rebuild with `{REBUILD_HINT}`")
        arr = np.load(path / name, allow_pickle=False)
        want = manifest["artifacts"][name].get("shape")
        if want is not None and list(arr.shape) != want:
            raise BundleError(f"{path / name} has shape {list(arr.shape)}, the manifest says {want}; rebuild with `{REBUILD_HINT}`")
        arrays[attr] = arr.astype(np.float32) if arr.dtype == np.float16 else arr
    expert = None
    if EXPERT_ARRAY in manifest["artifacts"]:
        expert = np.load(path / EXPERT_ARRAY, allow_pickle=False).astype(np.float32)
    try:
        metas = [MetaverseInfo.from_json(d) for d in json.loads((path / METAVERSES).read_text())]
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path / METAVERSES} is malformed ({e}); rebuild with `{REBUILD_HINT}`") from e
    col = Collection(metaverses=metas, expert_feats=expert, **arrays)
    try:
        col.validate()
    except ValueError as e:
        raise BundleError(f"{path}: arrays and {METAVERSES} disagree: {e}; rebuild with `{REBUILD_HINT}`") from e
    dim = manifest["encoder"].get("dim")
    if dim is not None and dim != col.image_feats.shape[1]:
        raise BundleError(f"{path / 'image_feats.npy'} has dimension {col.image_feats.shape[1]} but the encoder "
                          f"{manifest['encoder'].get('name')!r} in {MANIFEST} has {dim}; rebuild with `{REBUILD_HINT}`")
    return Bundle(path=path, manifest=manifest, collection=col)
