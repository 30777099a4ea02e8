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


@pytest.mark.parametrize("over, message", [
    ({"title": "Harbours \ud800"}, "'title' holds a lone surrogate"),
    ({"title": "Harbours\x1b[31m"}, "'title' holds a control character"),
    ({"description": "Intro.\n\nRoom \ud83d one.\n\nRoom two."}, "'description' holds a lone surrogate"),
    ({"paragraphs": ["Intro.", "Room one\x00.", "Room two."]}, "paragraph 2 holds a control character"),
])
def test_texts_with_surrogates_or_control_characters_are_refused(over, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec(**over), DIM)


def test_a_room_title_with_a_surrogate_is_refused():
    d = spec()
    d["rooms"][0]["title"] = "Red \udfff"
    with pytest.raises(ValueError, match="room 1: the title holds a lone surrogate"):
        parse_spec(d, DIM)


def test_line_breaks_and_tabs_stay_allowed():
    new = parse_spec(spec(description="An intro\twith a tab.\n\nRoom one,\nred.\n\nRoom two."), DIM)
    assert len(new.paragraphs) == 3


def _file_spec(tmp_path, src: str) -> dict:
    d = spec()
    d["rooms"][0]["images"] = [src]
    return d


def test_image_paths_outside_the_specs_folder_are_refused_unless_allowed(tmp_path):
    folder, outside = tmp_path / "spec", tmp_path / "elsewhere"
    folder.mkdir(), outside.mkdir()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(outside / "x.png")
    Image.new("RGB", (20, 20), (1, 2, 3)).save(folder / "inside.png")
    (folder / "link.png").symlink_to(outside / "x.png")
    for src in ("../elsewhere/x.png", str(outside / "x.png"), "link.png", "/etc/passwd"):
        with pytest.raises(ValueError, match="outside the spec's folder"):
            parse_spec(_file_spec(tmp_path, src), DIM, base_dir=folder)
    assert parse_spec(_file_spec(tmp_path, "inside.png"), DIM, base_dir=folder).rooms[0].images
    assert parse_spec(_file_spec(tmp_path, "../elsewhere/x.png"), DIM, base_dir=folder, allow_outside=True)
