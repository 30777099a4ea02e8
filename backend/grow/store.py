"""Added metaverses on disk, beside the read-only bundle: one folder per addition plus an index, each write atomic.

Layout of the store folder ($METAVERSE_ADDITIONS, default data/additions/):
  index.json            {"format": 1, "encoder": {name, dim, weights}, "items": [{"id", "dir", "added_at", "files"}]}
  <id>.<token>/         metaverse.json, arrays.npz (image_feats, sentence_embs, counts), images/<room>_<image>.png
An add writes its folder under a temporary name, fsyncs it, renames it, then replaces index.json (write + fsync +
os.replace): a crash leaves either the old index or the new one, never half an addition; folders no index names are
leftovers and are removed on the next write. Items are checked at load against the sha256 each file had when added,
like the bundle's artifacts. Writers in one process line up on a lock and across processes on an flock."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from backend.data.bundle import sha256_file
from backend.data.collection import MetaverseInfo
from backend.grow.encode import Addition
from backend.paths import REPO

log = logging.getLogger(__name__)

FORMAT = 1
INDEX = "index.json"
MAX_ADDITIONS = 10_000   # a demo Space's store; a platform with more grows the bundle instead (docs/SCALING.md)


def additions_enabled() -> bool:
    """Whether the app serves and accepts additions: on unless METAVERSE_ADDITIONS is "off"."""
    return (os.environ.get("METAVERSE_ADDITIONS") or "").strip().lower() not in ("off", "none", "0", "false")


def default_store_path() -> Path:
    return Path(os.environ.get("METAVERSE_ADDITIONS") or REPO / "data" / "additions")


def encoder_identity(bundle) -> dict:
    """What additions must share with the bundle to be comparable: the encoder's name, dimension and weights."""
    spec = bundle.encoder_spec
    weights = bundle.manifest.get("artifacts", {}).get(spec.get("tower", ""), {}).get("sha256")
    return {"name": spec.get("name"), "dim": int(spec.get("dim", 0)), "weights": weights}


class AdditionsError(ValueError):
    """A refused write (duplicate id, wrong encoder, full store) or an unreadable store; the message says what to do."""


class DuplicateIdError(AdditionsError):
    """The id is taken, by the bundle or by an earlier addition (a conflict, HTTP 409)."""


@dataclass
class Loaded:
    additions: list[Addition] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)   # {"id", "reason"} of items that failed their check
    dirs: list[str] = field(default_factory=list)       # the store folder of each addition (same order)


def _check_texts(node, where: str) -> None:
    """ValueError when any text in a stored JSON record holds a lone surrogate or a control character."""
    from backend.data.text import check_clean_text
    if isinstance(node, str):
        check_clean_text(node, f"a text in {where}")
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_texts(k, where)
            _check_texts(v, where)
    elif isinstance(node, list):
        for v in node:
            _check_texts(v, where)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class AdditionStore:
    def __init__(self, path: Optional[Path | str] = None, identity: Optional[dict] = None):
        self.path = Path(path) if path is not None else default_store_path()
        self.identity = identity or {}
        self._lock = threading.Lock()
        self._files: tuple[int, dict] = (-1, {})   # (index version, {(id, file): path}) for image_path
        self.hashed = 0   # files hashed by this store object so far: the work an add costs is counted, not timed

    def _sha256(self, path: Path) -> str:
        self.hashed += 1
        return sha256_file(path)

    # ---- reading ------------------------------------------------------------------------------------------------
    def _index(self) -> dict:
        f = self.path / INDEX
        if not f.exists():
            return {"format": FORMAT, "encoder": self.identity, "items": []}
        try:
            index = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise AdditionsError(f"{f} cannot be read ({e}); move the folder away to start an empty store.") from e
        if index.get("format") != FORMAT:
            raise AdditionsError(f"{f} has format {index.get('format')!r}; this version reads format {FORMAT}.")
        return index

    def version(self) -> int:
        """Changes whenever the index is replaced (for a running app to notice another process's add)."""
        try:
            return (self.path / INDEX).stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def ids(self) -> list[str]:
        return [it["id"] for it in self._index()["items"]]

    def check_identity(self, index: Optional[dict] = None) -> None:
        stored = (index or self._index()).get("encoder") or {}
        if self.identity and stored and stored != self.identity:
            raise AdditionsError(
                f"The additions in {self.path} were encoded by {stored.get('name')} ({stored.get('dim')}-d, weights "
                f"{str(stored.get('weights'))[:12]}…), not by this bundle's encoder {self.identity.get('name')} "
                f"({self.identity.get('dim')}-d, weights {str(self.identity.get('weights'))[:12]}…): point "
                "METAVERSE_ADDITIONS at another folder, or add them again from their sources.")

    def items(self) -> list[dict]:
        """The index's items in the order they were added (AdditionsError when the index cannot be read)."""
        return list(self._index()["items"])

    def load(self, items: Optional[list[dict]] = None, cached: Optional[dict] = None) -> Loaded:
        """Every addition (or those of `items`, from items()) whose files still match their sha256; the others are
        reported in `skipped`. cached: {dir: Addition} already checked in this process, taken as they are, so a
        running app hashes only what it has not read yet (an add costs its own files, not the store's)."""
        out = Loaded()
        index = self._index()
        items = index["items"] if items is None else items
        if not items:
            return out
        try:
            self.check_identity(index)
        except AdditionsError as e:
            out.skipped = [{"id": it["id"], "reason": str(e)} for it in items]
            return out
        cached = cached or {}
        for it in items:
            folder = self.path / it["dir"]
            if it["dir"] in cached:
                out.additions.append(cached[it["dir"]])
                out.dirs.append(it["dir"])
                continue
            try:
                for name, digest in it["files"].items():
                    if self._sha256(folder / name) != digest:
                        raise AdditionsError(f"{folder / name} does not match the sha256 it had when added")
                out.additions.append(self._read(folder))
                out.dirs.append(it["dir"])
            except (OSError, KeyError, ValueError) as e:
                reason = f"{e}; remove it with `python -m backend add --remove {it['id']}` and add it again"
                log.error("addition %s skipped: %s", it["id"], reason)
                out.skipped.append({"id": it["id"], "reason": reason})
        return out

    @staticmethod
    def _read(folder: Path) -> Addition:
        meta = json.loads((folder / "metaverse.json").read_text())
        _check_texts(meta["info"], "metaverse.json")   # a record written before texts were checked must not be served
        info = MetaverseInfo.from_json(meta["info"])
        with np.load(folder / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        # the kept images stay on disk (served by image_path); only a new addition carries their bytes
        return Addition(info=info, image_feats=arrays["image_feats"].astype(np.float32),
                        room_image_counts=arrays["room_image_counts"].astype(np.int64),
                        sentence_embs=arrays["sentence_embs"].astype(np.float32),
                        paragraph_sentence_counts=arrays["paragraph_sentence_counts"].astype(np.int64))

    def image_path(self, metaverse_id: str, file: str) -> Path:
        """Where a kept image of an addition lies; ValueError when it does not. The index is read again only when
        its version changed (a thumbnail request must not parse index.json)."""
        version = self.version()
        if self._files[0] != version:
            self._files = (version, {(it["id"], f): self.path / it["dir"] / f
                                     for it in self._index()["items"] for f in it["files"]})
        try:
            return self._files[1][(metaverse_id, file)]
        except KeyError:
            raise ValueError(f"No kept image {file!r} for added metaverse {metaverse_id!r}.") from None

    # ---- writing ------------------------------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[dict]:
        """The current index under both locks; the caller changes it in place and it is written atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path / ".lock", "a") as lockfile:
            fcntl.flock(lockfile, fcntl.LOCK_EX)
            index = self._index()
            yield index
            index["encoder"] = index.get("encoder") or self.identity
            tmp = self.path / f".{INDEX}.{secrets.token_hex(4)}"
            _write_file(tmp, json.dumps(index).encode())   # no indent: the C encoder, ~10x faster on 1,000s of items
            os.replace(tmp, self.path / INDEX)
            _fsync_dir(self.path)
            self._sweep(index)

    def _sweep(self, index: dict) -> None:
        """Remove folders no index entry names (a crashed add, a removed item)."""
        named = {it["dir"] for it in index["items"]}
        with os.scandir(self.path) as entries:       # the listing's file types: no stat per folder
            stale = [e.path for e in entries if e.name not in named and e.is_dir(follow_symlinks=False)]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)

    def add(self, addition: Addition, known_ids: set[str] = frozenset()) -> dict:
        """Write one addition atomically. known_ids: the bundle's ids (an added id must be new everywhere)."""
        written, refused = self.add_many([addition], known_ids, all_or_nothing=True)
        return written[0]

    def add_many(self, additions: list[Addition], known_ids: set[str] = frozenset(),
                 all_or_nothing: bool = False) -> tuple[list[dict], list[dict]]:
        """Write several additions with one index replace: ([summary with "dir"], [{"id", "reason"} refused]). A
        taken id or a full store refuses that addition only (all_or_nothing: raises instead, writing nothing)."""
        written, refused = [], []
        with self._writing() as index:
            self.check_identity(index)
            taken = set(known_ids) | {it["id"] for it in index["items"]}
            for addition in additions:
                mid = addition.info.id
                try:
                    if mid in taken:
                        raise DuplicateIdError(f"A metaverse with id {mid!r} already exists; choose another id, or "
                                               f"remove the added one first (`python -m backend add --remove {mid}`).")
                    if len(index["items"]) >= MAX_ADDITIONS:
                        raise AdditionsError(f"The store already holds {MAX_ADDITIONS:,} additions; rebuild the "
                                             "bundle with them instead (docs/SCALING.md).")
                except AdditionsError as e:
                    if all_or_nothing:
                        raise
                    refused.append({"id": mid, "reason": str(e)})
                    continue
                item, summary = self._write_folder(addition)
                index["items"].append(item)
                taken.add(mid)
                written.append(summary)
        return written, refused

    def _write_folder(self, addition: Addition) -> tuple[dict, dict]:
        """One addition's folder, written under a temporary name, fsynced and renamed; its files hashed once here
        (the index entry records them). Folders no index names yet are swept by the next write after a crash."""
        mid = addition.info.id
        folder_name = f"{mid}.{secrets.token_hex(4)}"
        staging = self.path / f".staging-{folder_name}"
        staging.mkdir()
        (staging / "images").mkdir()
        image_files = []
        r, i = 1, 0
        counts = [int(c) for c in addition.room_image_counts]
        for png in addition.images or (None,) * len(addition.image_feats):
            while i >= counts[r - 1]:
                r, i = r + 1, 0
            i += 1
            if png is None:
                image_files.append(None)
                continue
            name = f"images/{r}_{i}.png"
            _write_file(staging / name, png)
            image_files.append(name)
        buf = staging / "arrays.npz"
        with open(buf, "wb") as f:
            np.savez(f, image_feats=addition.image_feats, room_image_counts=addition.room_image_counts,
                     sentence_embs=addition.sentence_embs,
                     paragraph_sentence_counts=addition.paragraph_sentence_counts)
            f.flush()
            os.fsync(f.fileno())
        _write_file(staging / "metaverse.json",
                    json.dumps({"info": addition.info.to_json(), "image_files": image_files}).encode())
        files = {name: self._sha256(staging / name)
                 for name in ["metaverse.json", "arrays.npz"] + [f for f in image_files if f]}
        _fsync_dir(staging)
        os.rename(staging, self.path / folder_name)
        item = {"id": mid, "dir": folder_name, "added_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": files}
        return item, {"id": mid, "dir": folder_name, "added_at": item["added_at"], "rooms": len(counts),
                      "images": int(sum(counts))}

    def remove(self, metaverse_id: str) -> dict:
        with self._writing() as index:
            before = len(index["items"])
            index["items"] = [it for it in index["items"] if it["id"] != metaverse_id]
            if len(index["items"]) == before:
                raise AdditionsError(f"No added metaverse with id {metaverse_id!r}"
                                     + (" (metaverses of the bundle itself cannot be removed)." if metaverse_id else "."))
        return {"id": metaverse_id, "removed": True}
