"""Where things live in the repository (one place): the repo root, assets, the default bundle, the cache."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
DEFAULT_BUNDLE = Path(os.environ.get("METAVERSE_BUNDLE", REPO / "precomputed"))
# Derived files that can be rebuilt at any time (the exported text graph, the kind prototypes): $METAVERSE_CACHE or
# .cache/ in the repo.
CACHE_DIR = Path(os.environ.get("METAVERSE_CACHE", REPO / ".cache"))


@contextmanager
def cache_file(path: Path) -> Iterator[Path]:
    """Write a cache file whole or not at all: a temporary path beside `path` for the caller to write; on success it
    is made readable by all and renamed onto `path` (a concurrent reader never sees half a file), on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)   # mkstemp makes it private; the cache is shared by whoever runs the app
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
