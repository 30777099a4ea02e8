"""Where things live in the repository (one place): the repo root, assets, the default bundle."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
DEFAULT_BUNDLE = Path(os.environ.get("METAVERSE_BUNDLE", REPO / "precomputed"))
