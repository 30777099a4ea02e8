"""Adding and removing metaverses while the app runs: check, encode, store atomically, then swap in a new view."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from backend.grow.encode import encode_new
from backend.grow.spec import parse_spec
from backend.grow.store import AdditionStore, AdditionsError, DuplicateIdError, Loaded
from backend.grow.view import View, appended_view, grown_view

log = logging.getLogger(__name__)

RECHECK_S = 1.0   # how often a running app looks whether another process (the CLI) changed the store


class GrowService:
    """Owns the additions beside one bundle: its store, the bundle's own view, and swapping the served view. It gets
    what it needs from the application front (backend/service.py) as plain objects, so grow never imports the front:
    the encoder, the features' dimension, `served()` (the view served now) and `swap(view)` (serve another)."""

    def __init__(self, store: AdditionStore, encoder, dim: int, served: Callable[[], View],
                 swap: Callable[[View], None]):
        self.store = store
        self.encoder = encoder
        self.dim = int(dim)
        self._served = served
        self._swap = swap
        self.base: View = served()
        self._known = {m.id for m in self.base.collection.metaverses}   # the bundle's ids, never added again
        self._lock = threading.Lock()       # one rebuild at a time; searches keep using the view they started with
        self._checked = 0.0
        self._cache: dict = {}              # {store folder: Addition} checked in this process (never hashed again)
        self.last_work: dict = {}           # what the last view change cost: files hashed, vectors indexed, rebuilt
        self.refresh(force=True)

    # ---- reading ------------------------------------------------------------------------------------------------
    def maybe_refresh(self) -> None:
        """Pick up a change another process made, at most once per RECHECK_S (a stat of the index file)."""
        now = time.monotonic()
        if now - self._checked < RECHECK_S:
            return
        self._checked = now
        if self.store.version() != self._served().version:
            self.refresh()

    def refresh(self, force: bool = False) -> View:
        """Serve the store as it is now. When the served view's items are the start of the index's (adds only, here
        or by another process) the new items alone are read, hashed and appended; else (a removal, a replaced
        store) the view is rebuilt from the bundle's, reusing the additions already checked."""
        with self._lock:
            version = self.store.version()
            served = self._served()
            if not force and version == served.version:
                return served
            t0, hashed0 = time.perf_counter(), self.store.hashed
            try:
                items = self.store.items()
            except AdditionsError as e:       # an unreadable index: serve the bundle alone and say why
                log.error("additions not served: %s", e)
                items, loaded = [], Loaded(skipped=[{"id": "*", "reason": str(e)}])
            else:
                loaded = None
            dirs = tuple(it["dir"] for it in items)
            view = None
            if loaded is None and served.items == dirs[:len(served.items)] and (served.items or not (served.added or served.skipped)):
                new = self.store.load(items[len(served.items):], cached=self._cache)
                self._cache.update(zip(new.dirs, new.additions))
                view = appended_view(served, self.base, new.additions, new.skipped, version, dirs)
            if view is None:                  # a removal, a replaced store, or indexes that cannot be appended to
                loaded = loaded or self.store.load(items, cached=self._cache)
                view = grown_view(self.base, loaded.additions, loaded.skipped, version, dirs)
                self._cache = dict(zip(loaded.dirs, loaded.additions))
            self._swap(view)
            self.last_work = {**view.work, "files_hashed": self.store.hashed - hashed0}
            log.info("view with %d added metaverses ready in %.2fs (%d skipped, %s)", len(view.added),
                     time.perf_counter() - t0, len(view.skipped), self.last_work)
            return view

    def status(self) -> dict:
        view = self._served()
        return {"store": str(self.store.path), "added": list(view.added), "skipped": list(view.skipped)}

    # ---- writing ------------------------------------------------------------------------------------------------
    def _encode(self, spec: dict, base_dir: Optional[Path], allow_outside: bool):
        new = parse_spec(spec, dim=self.dim, base_dir=base_dir, allow_outside=allow_outside)
        if new.id in self._bundle_ids():
            raise DuplicateIdError(f"A metaverse with id {new.id!r} is part of the bundle; choose another id.")
        return encode_new(new, self.encoder)

    def _bundle_ids(self) -> set[str]:
        return self._known

    def _written(self, additions, summaries) -> None:
        """Additions just written are checked already: kept (without their image bytes, which stay on disk) so the
        refresh that serves them does not read and hash their files again."""
        by_id = {a.info.id: a for a in additions}
        for s in summaries:
            self._cache[s["dir"]] = dataclasses.replace(by_id[s["id"]], images=())

    def add(self, spec: dict, base_dir: Optional[Path] = None, allow_outside: bool = False) -> dict:
        """Check, encode and store one metaverse, then serve it. ValueError (AdditionsError) with the reason when
        refused; nothing is written then."""
        t0 = time.perf_counter()
        addition = self._encode(spec, base_dir, allow_outside)
        t1 = time.perf_counter()
        hashed0 = self.store.hashed
        summary = self.store.add(addition, known_ids=self._bundle_ids())
        self._written([addition], [summary])
        view = self.refresh(force=True)
        self.last_work["files_hashed"] = self.store.hashed - hashed0     # written and served: the add's whole cost
        summary = {k: v for k, v in summary.items() if k != "dir"}
        return {**summary, "searchable": addition.info.id in view.added, "metaverses": view.collection.n_metaverses,
                "timings_ms": {"encode": round((t1 - t0) * 1000, 1),
                               "store_and_serve": round((time.perf_counter() - t1) * 1000, 1)}}

    def add_many(self, specs: list, allow_outside: bool = False) -> dict:
        """Bulk add: specs is [(name, spec dict or a ValueError met reading it, base_dir)]. Each is checked and
        encoded on its own and a bad one skipped with its reason; the good ones are written with one index replace
        and served with one view swap."""
        t0 = time.perf_counter()
        additions, skipped, names = [], [], {}
        for name, spec, base_dir in specs:
            try:
                if isinstance(spec, Exception):
                    raise spec
                addition = self._encode(spec, base_dir, allow_outside)
                if addition.info.id in names:
                    raise DuplicateIdError(f"id {addition.info.id!r} is also the id of {names[addition.info.id]}")
            except ValueError as e:
                skipped.append({"spec": str(name), "reason": str(e)})
                continue
            names[addition.info.id] = str(name)
            additions.append(addition)
        t1 = time.perf_counter()
        hashed0 = self.store.hashed
        written, refused = self.store.add_many(additions, known_ids=self._bundle_ids()) if additions else ([], [])
        self._written(additions, written)
        skipped += [{"spec": names[r["id"]], "id": r["id"], "reason": r["reason"]} for r in refused]
        view = self.refresh(force=True)
        self.last_work["files_hashed"] = self.store.hashed - hashed0
        return {"added": [w["id"] for w in written], "skipped": skipped,
                "searchable": all(w["id"] in view.added for w in written), "metaverses": view.collection.n_metaverses,
                "timings_ms": {"encode": round((t1 - t0) * 1000, 1),
                               "store_and_serve": round((time.perf_counter() - t1) * 1000, 1)}}

    def remove(self, metaverse_id: str) -> dict:
        out = self.store.remove(str(metaverse_id))
        view = self.refresh(force=True)
        return {**out, "metaverses": view.collection.n_metaverses}
