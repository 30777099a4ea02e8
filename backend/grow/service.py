"""Adding and removing metaverses while the app runs: check, encode, store atomically, then swap in a new view."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Optional

from backend.grow.encode import encode_new
from backend.grow.spec import parse_spec
from backend.grow.store import AdditionStore, AdditionsError, DuplicateIdError, Loaded
from backend.grow.view import View, grown_view

log = logging.getLogger(__name__)

RECHECK_S = 1.0   # how often a running app looks whether another process (the CLI) changed the store


class GrowService:
    """Owns the additions of one SearchService: its store, the bundle's own view, and swapping the served view."""

    def __init__(self, service, store: AdditionStore):
        self.service = service
        self.store = store
        self.base: View = service._view
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
        if self.store.version() != self.service._view.version:
            self.refresh()

    def refresh(self, force: bool = False) -> View:
        with self._lock:
            version = self.store.version()
            if not force and version == self.service._view.version:
                return self.service._view
            t0 = time.perf_counter()
            try:
                loaded = self.store.load()
            except AdditionsError as e:       # an unreadable index: serve the bundle alone and say why
                log.error("additions not served: %s", e)
                loaded = Loaded(skipped=[{"id": "*", "reason": str(e)}])
            view = grown_view(self.base, loaded.additions, loaded.skipped, version)
            self.service.swap_view(view)
            log.info("view with %d added metaverses ready in %.2fs (%d skipped)", len(view.added),
                     time.perf_counter() - t0, len(view.skipped))
            return view

    def status(self) -> dict:
        view = self.service._view
        return {"store": str(self.store.path), "added": list(view.added), "skipped": list(view.skipped)}

    # ---- writing ------------------------------------------------------------------------------------------------
    def add(self, spec: dict, base_dir: Optional[Path] = None, allow_outside: bool = False) -> dict:
        """Check, encode and store one metaverse, then serve it. ValueError (AdditionsError) with the reason when
        refused; nothing is written then."""
        t0 = time.perf_counter()
        new = parse_spec(spec, dim=int(self.service.bundle.encoder_spec.get("dim", 0)), base_dir=base_dir,
                         allow_outside=allow_outside)
        known = {m.id for m in self.base.collection.metaverses}
        if new.id in known:
            raise DuplicateIdError(f"A metaverse with id {new.id!r} is part of the bundle; choose another id.")
        addition = encode_new(new, self.service.encoder)
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
