"""`python -m backend export-folders --out DIR`: the demo bundle's metaverses as the folder tree `build collection`
reads (backend/data/importers/folders.py): per metaverse metadata.json, description.md and one folder of rendered
images per room, so the whole bring-your-own path can be run end to end on known data."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.bundle import load_bundle


def room_folder(number: int, title: str) -> str:
    """'03 Night city in deep blues': the number keeps the order, the rest is the room's title."""
    return f"{number:02d} " + re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", title).strip(" .")


def pick_rows(n: int, limit: Optional[int]) -> list[int]:
    """All rows, or `limit` of them evenly spaced, so a subset keeps both kinds and every theme's share."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise ValueError(f"--limit {limit}: give at least 1 metaverse")
    return sorted(set(np.linspace(0, n - 1, limit).round().astype(int).tolist()))


def export_folders(out: Path, bundle: Path, limit: Optional[int] = None, size: int = 128) -> dict:
    """Render every image of the demo bundle's metaverses (or `limit` of them) at `size` px into out."""
    out = Path(out)
    if not 64 <= size <= 1024:   # the renderer draws some scenes wrongly below 48 px; the tower reads 64
        raise ValueError(f"--size {size}: give 64-1024 px")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} exists and is not an empty folder; give a new one")
    col = load_bundle(bundle, check_hashes=False).collection
    if any(not ref or "subject" not in ref for m in col.metaverses for room in m.rooms for ref in room.images):
        raise ValueError(f"{bundle} holds features without images to render; export-folders needs a demo bundle "
                         "(`python -m backend build demo`)")
    t0 = time.perf_counter()
    rows = pick_rows(col.n_metaverses, limit)
    out.mkdir(parents=True, exist_ok=True)
    try:
        n_images = _write(out, col, rows, size)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)   # no half tree that a build would read as a smaller collection
        raise
    return {"out": str(out), "bundle": str(bundle), "metaverses": len(rows), "images": n_images, "size": size,
            "seconds": round(time.perf_counter() - t0, 1)}


def _write(out: Path, col, rows: list[int], size: int) -> int:
    from backend.world.render import render_image
    n_images = 0
    for m in rows:
        info = col.metaverses[m]
        folder = out / info.id
        folder.mkdir()
        meta = {"title": info.title, "kind": info.kind, "split": info.split}
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "description.md").write_text("\n\n".join(info.paragraphs) + "\n", encoding="utf-8")
        for r, room in enumerate(info.rooms, start=1):
            room_dir = folder / room_folder(r, room.title)
            room_dir.mkdir()
            for i, ref in enumerate(room.images, start=1):
                render_image(ref, size=size).save(room_dir / f"{i:02d}.png")
                n_images += 1
    return n_images
