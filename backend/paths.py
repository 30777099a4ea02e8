"""Where things live in the repository (one place): the repo root, assets, the default bundle, the cache."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
DEFAULT_BUNDLE = Path(os.environ.get("METAVERSE_BUNDLE", REPO / "precomputed"))
# Derived files that can be rebuilt at any time (the exported text graph): $METAVERSE_CACHE or .cache/ in the repo.
CACHE_DIR = Path(os.environ.get("METAVERSE_CACHE", REPO / ".cache"))
