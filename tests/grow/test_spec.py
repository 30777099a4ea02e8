"""Bad additions get a clear message before anything is encoded or written."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from backend.grow.spec import MAX_ROOMS, parse_spec

DIM = 8


def _png(size=(16, 16), colour=(200, 30, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def spec(**over):
    d = {"id": "new-museum", "kind": "museum", "title": "A new museum",
         "description": "An introduction.\n\nRoom one holds red squares.\n\nRoom two holds blue circles.",
         "rooms": [{"title": "Red", "images": [_png()]}, {"title": "Blue", "features": np.eye(DIM)[:2].tolist()}]}
    d.update(over)
    return d


def test_a_good_spec_parses_into_rooms_and_paragraphs():
    new = parse_spec(spec(), DIM)
    assert new.id == "new-museum" and len(new.rooms) == 2 and len(new.paragraphs) == 3
    assert len(new.rooms[0].images) == 1 and new.rooms[1].features.shape == (2, DIM)


@pytest.mark.parametrize("over, message", [
    ({"id": "Bad Id!"}, "'id' must be"),
    ({"kind": "cinema"}, "'kind' must be one of"),
    ({"title": ""}, "'title' is required"),
    ({"rooms": []}, "'rooms' must be a non-empty list"),
    ({"rooms": [{"title": "Empty", "images": []}, {"title": "B", "features": [[1.0] * DIM]}]}, "room 1 has no images"),
    ({"rooms": [{"title": "A", "images": [_png()]}, {"title": "B", "features": [[1.0] * (DIM + 1)]}]},
     r"room 2: features have shape \(1, 9\); this bundle's encoder needs \(n_images, 8\)"),
    ({"rooms": [{"title": "A", "images": [_png()]}, {"title": "B", "features": [[0.0] * DIM]}]}, "finite and non-zero"),
    ({"description": "Only an intro.\n\nAnd one room."}, "2 paragraphs but the metaverse has 2 rooms"),
    ({"rooms": [{"title": "A", "images": ["not base64 !!"]}, {"title": "B", "features": [[1.0] * DIM]}]},
     "room 1, image 1: not a base64-encoded image"),
    ({"rooms": [{"title": "A", "images": [base64.b64encode(b"GIF89a broken").decode()]},
                {"title": "B", "features": [[1.0] * DIM]}]}, "room 1, image 1: .*(not an image|corrupt)"),
    ({"rooms": [{"title": f"R{i}", "features": [[1.0] * DIM]} for i in range(MAX_ROOMS + 1)]}, "at most"),
])
def test_bad_specs_are_refused_with_the_reason(over, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec(**over), DIM)


def test_an_image_over_the_pixel_limit_is_refused_from_its_header():
    buf = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(buf, format="PNG")   # 90 MP, tiny on disk
    bad = spec(rooms=[{"title": "Huge", "images": [base64.b64encode(buf.getvalue()).decode()]},
                      {"title": "B", "features": [[1.0] * DIM]}])
    with pytest.raises(ValueError, match="megapixels"):
        parse_spec(bad, DIM)
