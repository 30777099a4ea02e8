"""The demo bundle loaded once per module, and services over it that each keep their own additions store."""
from __future__ import annotations

import pytest

from backend.grow.store import AdditionStore, encoder_identity
from backend.paths import REPO
from backend.service import SearchService

BUNDLE = REPO / "precomputed"


@pytest.fixture(scope="module")
def base():
    return SearchService.from_bundle(BUNDLE)


def grown(base, store_dir) -> SearchService:
    """A service over the same loaded bundle with its own additions store (as the app has)."""
    s = SearchService(base.bundle, base.encoder, base._view.engine)
    s._view = base._view
    s.enable_additions(AdditionStore(store_dir, encoder_identity(base.bundle)))
    return s
