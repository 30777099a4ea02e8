"""Turning an uploaded image (PIL, array, path or bytes) into a safe, small RGB PIL image, or a clear error."""
from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Refuse above this, read from the header before any pixel is decoded (a 50 MP photo is fine). Kept under PIL's own
# decompression-bomb threshold (Image.MAX_IMAGE_PIXELS, ~89 MP, left on for the whole process), so PIL's guard only
# ever fires for images this app refuses anyway.
MAX_MEGAPIXELS = 80
assert MAX_MEGAPIXELS * 1_000_000 <= (Image.MAX_IMAGE_PIXELS or float("inf"))
WORKING_SIZE = 512            # decode/shrink to at most this before encoding
# A PNG cannot be decoded at reduced scale: an 80 MP RGBA one holds 320 MB decoded. Images above LARGE_PIXELS take
# turns in LARGE_DECODES slots, so the memory of concurrent uploads does not grow with how many arrive at once;
# bench-uploads measures it (BENCHMARKS.md).
LARGE_PIXELS = 16_000_000
LARGE_DECODES = threading.BoundedSemaphore(2)
# A large picture is box-reduced one colour band at a time before any conversion: converting, or reducing RGBA
# (Pillow premultiplies alpha into a copy), would hold a second full-size image. Alpha is dropped, as convert() does.
_BANDS = {"RGB": "RGB", "RGBA": "RGB", "RGBX": "RGB", "L": "L", "LA": "L", "I": None, "F": None}


def load_query_image(obj) -> Image.Image:
    """Validate and shrink a query image. Raises ValueError with a message a person can act on."""
    if obj is None:
        raise ValueError("No image was given.")
    owned = not isinstance(obj, Image.Image)   # a caller's PIL image is never shrunk in place
    if isinstance(obj, Image.Image):
        im = obj
    elif isinstance(obj, np.ndarray):
        if obj.ndim not in (2, 3) or obj.size == 0:
            raise ValueError(f"The image array has shape {obj.shape}; expected height x width (x channels).")
        im = Image.fromarray(obj.astype(np.uint8) if obj.dtype != np.uint8 else obj)
    elif isinstance(obj, (bytes, bytearray)):
        im = _open(io.BytesIO(obj), "the uploaded bytes")
    elif isinstance(obj, (str, Path)):
        p = Path(obj)
        try:
            regular = stat.S_ISREG(os.stat(p).st_mode)   # never a device, FIFO or /proc file: they can read forever
        except (OSError, ValueError):
            regular = False
        if not regular:
            raise ValueError(f"Image file {p.name!r} was not found.")
        im = _open(p, p.name)
    else:
        raise ValueError(f"Unsupported image input of type {type(obj).__name__}; give a PNG/JPEG file or a PIL image.")
    w, h = im.size
    if w < 1 or h < 1:
        raise ValueError("The image is empty (0 pixels).")
    if w * h > MAX_MEGAPIXELS * 1_000_000:
        raise ValueError(f"The image is {w}x{h} ({w * h / 1e6:.0f} megapixels); the limit is {MAX_MEGAPIXELS} "
                         "megapixels. Please upload a smaller version.")
    if w * h <= LARGE_PIXELS:
        return _decode_small_rgb(im, owned)
    with LARGE_DECODES:
        return _decode_small_rgb(im, owned)


def _decode_small_rgb(im: Image.Image, owned: bool) -> Image.Image:
    """Decode, shrink to WORKING_SIZE and convert to RGB, holding one full-size copy of the pixels at most."""
    try:
        if im.format == "JPEG":
            im.draft("RGB", (WORKING_SIZE, WORKING_SIZE))  # decode at reduced scale: fast and small
        im.load()
        factor = max(im.size) // (2 * WORKING_SIZE)   # as thumbnail's reducing_gap=2: pictures under 1,024 px keep 1
        if factor > 1 and im.mode in _BANDS:
            bands = _BANDS[im.mode]
            im = (im.reduce(factor) if bands is None else
                  Image.merge(bands, [im.getchannel(b).reduce(factor) for b in bands]))
            owned = True
        if im.mode != "RGB":
            im, owned = im.convert("RGB"), True
        if max(im.size) > WORKING_SIZE:
            im = im if owned else im.copy()
            im.thumbnail((WORKING_SIZE, WORKING_SIZE))
        return im
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"The image could not be decoded ({e}); it may be truncated or corrupt.") from e


def _open(src, label: str) -> Image.Image:
    """Open lazily (header only); PIL's bomb guard turned into a clear message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(src)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValueError(f"{label} is larger than {MAX_MEGAPIXELS} megapixels; please upload a smaller version.") \
            from None
    except UnidentifiedImageError as e:
        raise ValueError(f"{label} is not an image this app can read (PNG, JPEG, WebP, GIF, BMP).") from e
    except OSError as e:
        raise ValueError(f"{label} could not be opened as an image; it may be truncated or corrupt.") from e
