"""Tests of the deterministic demo renderer."""
import numpy as np
import pytest

from backend.world.render import GAME_SUBJECTS, MUSEUM_SUBJECTS, PALETTE_NAMES, STYLES_BY_KIND, render_image


def _refs():
    for kind, subjects in (("museum", MUSEUM_SUBJECTS), ("game", GAME_SUBJECTS)):
        styles = STYLES_BY_KIND[kind]
        for i, subject in enumerate(subjects):
            yield {"subject": subject, "palette": PALETTE_NAMES[i % len(PALETTE_NAMES)], "style": styles[i % len(styles)],
                   "seed": 1000 + i, "kind": kind}


@pytest.mark.parametrize("ref", list(_refs()), ids=lambda r: r["subject"])
def test_every_subject_renders_deterministically(ref):
    a, b = render_image(ref), render_image(dict(ref))
    assert a.mode == "RGB" and a.size == (64, 64)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(a).std() > 5  # not a blank canvas


def test_seed_changes_pixels_and_size_is_honoured():
    ref = {"subject": "seascape", "palette": "deep blues", "style": "impressionist", "seed": 7}
    other = dict(ref, seed=8)
    assert not np.array_equal(np.asarray(render_image(ref)), np.asarray(render_image(other)))
    assert render_image(ref, size=32).size == (32, 32)


@pytest.mark.parametrize("style", STYLES_BY_KIND["museum"])
def test_every_museum_style(style):
    img = render_image({"subject": "forest", "palette": "sepia", "style": style, "seed": 1})
    assert img.size == (64, 64)


@pytest.mark.parametrize("bad, message", [
    ({"subject": "volcano", "palette": "sepia", "style": "cubist", "seed": 1}, "unknown subject 'volcano'; allowed: seascape"),
    ({"subject": "forest", "palette": "neon", "style": "cubist", "seed": 1}, "unknown palette 'neon'; allowed: stormy greys"),
    ({"subject": "forest", "palette": "sepia", "style": "pixel art", "seed": 1}, "unknown museum style 'pixel art'; allowed: impressionist"),
    ({"subject": "forest", "palette": "sepia", "style": "cubist", "seed": -3}, "seed must be a non-negative int, got -3"),
    ({"subject": "forest", "palette": "sepia", "style": "cubist", "seed": 1, "kind": "game"}, "kind 'game' does not match subject 'forest'"),
])
def test_bad_ref_raises(bad, message):
    with pytest.raises(ValueError) as err:
        render_image(bad)
    assert message in str(err.value)


def test_bad_size_raises():
    with pytest.raises(ValueError, match=r"size must be an int in \[8, 1024\], got 0"):
        render_image({"subject": "forest", "palette": "sepia", "style": "cubist", "seed": 1}, size=0)
