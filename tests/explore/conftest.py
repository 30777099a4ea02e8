"""Shared by the Explore tests: the served bundle and a service over it that takes additions."""
from __future__ import annotations

from backend.grow.store import AdditionStore, encoder_identity
from backend.paths import REPO
from backend.service import SearchService

BUNDLE = REPO / "precomputed"


def service_taking_additions(store_dir) -> SearchService:
    """A service over the bundle's view whose additions go to store_dir (its own, so tests do not share additions)."""
    base = SearchService.from_bundle(BUNDLE)
    svc = SearchService(base.bundle, base.encoder, base._view.engine)
    svc._view = base._view
    svc.enable_additions(AdditionStore(store_dir, encoder_identity(base.bundle)))
    return svc


def add_copy(svc: SearchService, row: int, new_id: str):
    """Add a copy of the bundle's metaverse at row (its rooms' image features, its paragraphs) as new_id; its source."""
    col = svc.collection
    m = col.metaverses[row]
    rooms = [{"title": room.title, "features": col.room_images(col.room_range(row)[r]).tolist()}
             for r, room in enumerate(m.rooms)]
    svc.grow.add({"id": new_id, "kind": m.kind, "title": f"Copy of {m.title}", "paragraphs": list(m.paragraphs),
                  "rooms": rooms})
    return m
