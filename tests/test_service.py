"""Search service: result shape, filters, attribution, and clear messages for every kind of bad input."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO


@pytest.mark.parametrize("ranker", ["baseline", "hicalm"])
def test_text_search_shape(service, ranker):
    out = service.search(text="a museum with a room of stormy seascapes", k=5, ranker=ranker)
    assert out["query"]["ranker"] == ranker and len(out["results"]) == 5
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)
    for r in out["results"]:
        assert {"id", "kind", "title", "score", "rooms", "best_room"} <= set(r)
        contrib = [room["contribution"] for room in r["rooms"]]
        assert abs(sum(contrib) - 1) < 1e-3
        assert r["best_room"] == int(np.argmax(contrib))
        assert all({"index", "score", "contribution", "paragraph", "images"} <= set(room) for room in r["rooms"])
    assert out["room_matches"] and all("metaverse_id" in m for m in out["room_matches"])
    assert set(out["timings_ms"]) == {"encode", "search", "attribution", "total"}
    json.dumps(out)  # JSON-ready


def test_kind_filter(service):
    for kind in ("museum", "game"):
        out = service.search(text="a racing game at night", kind=kind, k=50)
        assert out["results"] and all(r["kind"] == kind for r in out["results"])
        assert all(m["kind"] == kind for m in out["room_matches"])


def test_image_search_and_more_like_this(service, tmp_path):
    from backend.world.render import render_image
    info = service.collection.metaverses[0]
    im = render_image(info.rooms[0].images[0], size=64)
    p = tmp_path / "q.png"
    im.save(p)
    for query in ({"image": im}, {"image": str(p)}, {"image": p.read_bytes()}):
        out = service.search(**query, k=3, ranker="baseline")
        assert out["query"]["type"] == "image" and len(out["results"]) == 3
    key = service.image_ref_key(info.id, 0, 0)
    out = service.search(image_ref_key=key, k=3, ranker="baseline")
    assert out["query"]["like"] == {"metaverse_id": info.id, "room_index": 0, "image_index": 0}
    feat = service.collection.room_images(0)[0]
    best = float(np.max(service._rankers["baseline"].metaverse_vecs @ (feat / np.linalg.norm(feat))))
    assert abs(out["results"][0]["score"] - best) < 1e-3  # the stored feature itself is the query
    assert service.search(image_ref_key=key, k=3, ranker="hicalm")["results"]


def test_thumbnail(service):
    ref = service.collection.metaverses[0].rooms[0].images[0]
    uri = service.thumbnail_data_uri(ref, size=48)
    assert uri.startswith("data:image/png;base64,")
    assert service.thumbnail_data_uri(None) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"text": ""}, "The query is empty"),
    ({"text": "   \n\t "}, "The query is empty"),
    ({"text": "x" * 10_000}, "10,000 characters long; the limit is 6,000"),
    ({"text": "sea", "kind": "castle"}, "Unknown kind 'castle'. Choose one of: all, museum, game"),
    ({"text": "sea", "k": 0}, "k must be between 1 and 100; got 0"),
    ({"text": "sea", "k": 10_000}, "k must be between 1 and 100; got 10000"),
    ({"text": "sea", "ranker": "magic"}, "Unknown ranker 'magic'"),
    ({}, "Give exactly one query"),
    ({"image": b"definitely not an image"}, "is not an image this app can read"),
    ({"image_ref_key": "museum-9999/0/0"}, "Unknown image reference"),
])
def test_bad_input_messages(service, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        service.search(**kwargs)
    assert service.search(text="forest", k=1)["results"]  # still serving


def test_corrupt_and_truncated_images(service, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, format="PNG")
    with pytest.raises(ValueError, match="could not be decoded|could not be opened|not an image"):
        service.search(image=buf.getvalue()[:60])
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt is not an image"):
        service.search(image=str(txt))


def test_fifty_megapixel_image_is_accepted(service, tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (8660, 5774), (30, 60, 140)).save(p, quality=80)  # 50.0 MP
    out = service.search(image=str(p), k=2)
    assert out["query"]["size"][0] <= 512 and len(out["results"]) == 2


def test_oversized_image_is_refused_from_its_header(service, tmp_path):
    from backend.data.images import MAX_MEGAPIXELS
    p = tmp_path / "huge.png"
    Image.new("1", (12000, 11000)).save(p)  # 132 MP, tiny file
    with pytest.raises(ValueError, match=f"132 megapixels\\); the limit is {MAX_MEGAPIXELS}"):
        service.search(image=str(p))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_cli_search_json(tiny_bundle):
    r = _cli("search", "stormy seascapes", "--k", "3", "--json", "--bundle", str(tiny_bundle), "--kind", "museum")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    first = out["results"][0]
    assert {"id", "kind", "title", "score"} <= set(first) and first["kind"] == "museum"
    assert {"index", "score", "contribution"} <= set(first["rooms"][0])
    assert "room_matches" in out


def test_cli_reports_bad_input_and_missing_bundle(tiny_bundle, tmp_path):
    r = _cli("search", " ", "--bundle", str(tiny_bundle))
    assert r.returncode == 2 and "The query is empty" in r.stderr
    r = _cli("search", "sea", "--bundle", str(tmp_path / "missing"))
    assert r.returncode == 2 and "python -m backend build demo" in r.stderr and "Traceback" not in r.stderr
