"""Query images: never read from a device or /proc file, large pictures shrunk without a second full-size copy, and
the same pixels whichever way a large picture is reduced."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from backend.data.images import WORKING_SIZE, load_query_image


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_path_that_is_not_a_regular_file_is_never_read(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(ValueError, match="was not found"):
        load_query_image(path)


def test_a_proc_file_is_refused_as_not_an_image():
    with pytest.raises(ValueError, match="is not an image"):
        load_query_image("/proc/self/environ")


def test_a_fifo_is_never_opened(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)   # opening it for reading would block forever
    with pytest.raises(ValueError, match="was not found"):
        load_query_image(str(fifo))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "I;16", "CMYK"])
def test_every_mode_of_a_large_picture_comes_out_rgb_and_small(tmp_path, mode):
    im = Image.new("RGB", (3000, 2200), (200, 120, 40)).convert(mode)
    p = tmp_path / ("x.tiff" if mode in ("I;16", "CMYK") else "x.png")
    im.save(p)
    out = load_query_image(str(p))
    assert out.mode == "RGB" and max(out.size) == WORKING_SIZE and out.size[1] < WORKING_SIZE


def test_band_wise_reduction_keeps_the_colours_of_a_full_conversion(tmp_path):
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (2400, 3600, 4), dtype=np.uint8)
    p = tmp_path / "rgba.png"
    Image.fromarray(px, "RGBA").save(p)
    got = np.asarray(load_query_image(str(p)), dtype=np.float32)
    want_im = Image.fromarray(px, "RGBA").convert("RGB")
    want_im.thumbnail((WORKING_SIZE, WORKING_SIZE))
    want = np.asarray(want_im, dtype=np.float32)
    assert got.shape == want.shape and np.abs(got - want).mean() < 2.0


def test_a_callers_image_is_not_shrunk_in_place():
    im = Image.new("RGB", (2000, 1000), (1, 2, 3))
    load_query_image(im)
    assert im.size == (2000, 1000)


def test_a_large_rgba_png_is_decoded_without_a_second_full_size_copy(tmp_path):
    """Peak growth of a fresh interpreter decoding a 36 MP RGBA PNG: the decoded picture (144 MB) and one band
    (36 MB), not the ~290 MB that converting or premultiplying a full-size copy cost."""
    from backend.ops.bench_uploads import direct_decode_growth_mb, make_large_png
    png = make_large_png(tmp_path / "large.png", 36)
    growth = direct_decode_growth_mb(png, threads=1)
    assert growth < 230, growth
