"""A bundle's own pictures, for bundles built from image files (`build collection`): one PNG per image, at most
THUMB_MAX px a side, packed into two artifacts so the manifest hashes them like any array.

thumbs.bin          the PNG files, back to back
thumb_offsets.npy   int64, n_images + 1: image row i is bytes [offsets[i], offsets[i + 1]) of thumbs.bin

An image's ImageRef is then {"thumb": row} (row in the collection's image order), so the app can show pictures of a
collection whose images it cannot re-render (the demo world's refs are render recipes instead).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

THUMBS_BIN, THUMB_OFFSETS = "thumbs.bin", "thumb_offsets.npy"
THUMB_MAX = 256   # the largest size the thumbnail route offers (backend.service.THUMB_SIZES)


def thumbnail_png(im: Image.Image, max_side: int = THUMB_MAX) -> bytes:
    """PNG bytes of im shrunk to at most max_side a side (never enlarged)."""
    im = im.convert("RGB")
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def pack(pngs: list[bytes]) -> tuple[bytes, np.ndarray]:
    """(thumbs.bin contents, offsets) for PNGs in image-row order."""
    offsets = np.zeros(len(pngs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pngs])
    return b"".join(pngs), offsets


def read_thumb(bin_path: Path, offsets: np.ndarray, row: int) -> bytes:
    """The stored PNG of image row `row`; ValueError when the bundle has no such row."""
    if not 0 <= row < len(offsets) - 1:
        raise ValueError(f"image row {row} is not in this bundle's pictures ({len(offsets) - 1} stored)")
    start, end = int(offsets[row]), int(offsets[row + 1])
    with open(bin_path, "rb") as f:
        f.seek(start)
        return f.read(end - start)
