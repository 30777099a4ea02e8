"""Adding and removing metaverses while the app runs: check, encode, store atomically, then swap in a new view."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from backend.grow.encode import encode_new
from backend.grow.spec import parse_spec
from backend.grow.store import AdditionStore, AdditionsError, DuplicateIdError, Loaded
from backend.grow.view import View, grown_view

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
        self._lock = threading.Lock()       # one rebuild at a time; searches keep using the view they started with
        self._checked = 0.0
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
        with self._lock:
            version = self.store.version()
            served = self._served()
            if not force and version == served.version:
                return served
            t0 = time.perf_counter()
            try:
                loaded = self.store.load()
            except AdditionsError as e:       # an unreadable index: serve the bundle alone and say why
                log.error("additions not served: %s", e)
                loaded = Loaded(skipped=[{"id": "*", "reason": str(e)}])
            view = grown_view(self.base, loaded.additions, loaded.skipped, version)
            self._swap(view)
            log.info("view with %d added metaverses ready in %.2fs (%d skipped)", len(view.added),
                     time.perf_counter() - t0, len(view.skipped))
            return view

    def status(self) -> dict:
        view = self._served()
        return {"store": str(self.store.path), "added": list(view.added), "skipped": list(view.skipped)}

    # ---- writing ------------------------------------------------------------------------------------------------
    def add(self, spec: dict, base_dir: Optional[Path] = None, allow_outside: bool = False) -> dict:
        """Check, encode and store one metaverse, then serve it. ValueError (AdditionsError) with the reason when
        refused; nothing is written then."""
        t0 = time.perf_counter()
        new = parse_spec(spec, dim=self.dim, base_dir=base_dir, allow_outside=allow_outside)
        known = {m.id for m in self.base.collection.metaverses}
        if new.id in known:
            raise DuplicateIdError(f"A metaverse with id {new.id!r} is part of the bundle; choose another id.")
        addition = encode_new(new, self.encoder)
        t1 = time.perf_counter()
        summary = self.store.add(addition, known_ids=known)
        view = self.refresh(force=True)
        return {**summary, "searchable": new.id in view.added, "metaverses": view.collection.n_metaverses,
                "timings_ms": {"encode": round((t1 - t0) * 1000, 1),
                               "store_and_serve": round((time.perf_counter() - t1) * 1000, 1)}}

    def remove(self, metaverse_id: str) -> dict:
        out = self.store.remove(str(metaverse_id))
        view = self.refresh(force=True)
        return {**out, "metaverses": view.collection.n_metaverses}
