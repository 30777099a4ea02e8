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
        contrib = [room["contribution"] for room in r["rooms"]]
        assert sum(contrib) == pytest.approx(1.0, abs=1e-3)
        assert r["best_room"] == int(np.argmax(contrib)) + 1          # room numbers count from 1 everywhere
        assert [room["number"] for room in r["rooms"]] == list(range(1, len(r["rooms"]) + 1))
        for room in r["rooms"]:
            assert {"number", "score", "part", "contribution", "best_image", "images"} <= set(room)
            assert "paragraph" not in room                            # paragraphs are opt-in (full=True)
            imgs = room["images"]
            assert imgs and all(im["url"] == f"/thumbs/{im['key']}.png" for im in imgs)
            assert imgs[room["best_image"] - 1]["score"] == max(im["score"] for im in imgs)
    groups = out["room_matches"]
    assert groups and all({"part", "text", "matches"} <= set(g) for g in groups)
    for g in groups:
        s = [m["score"] for m in g["matches"]]
        assert s == sorted(s, reverse=True)
    assert {"encode", "search", "attribution", "total"} <= set(out["timings_ms"])


def test_full_adds_paragraphs(service):
    out = service.search(text="forest", k=2, full=True)
    info = service.collection.metaverses[service.collection.metaverse_row(out["results"][0]["id"])]
    assert out["results"][0]["intro"] == info.paragraphs[0]
    assert out["results"][0]["rooms"][0]["paragraph"] == info.paragraphs[1]


def test_query_parts_group_room_matches(service):
    out = service.search(text="a room of stormy seascapes, then a room of flower still lifes", k=3, ranker="hicalm")
    parts = out["query"]["parts"]      # the comma cuts; the model may cut a piece further (backend/search/reading.py)
    assert " ".join(parts).split() == "stormy seascapes flower still lifes".split() and len(parts) >= 2
    assert [g["part"] for g in out["room_matches"]] == list(range(1, len(parts) + 1))
    assert {r["part"] for h in out["results"] for r in h["rooms"]} <= set(range(1, len(parts) + 1))


def test_served_score_is_explained_by_its_parts(service):
    out = service.search(text="a room of stormy seascapes, then a room of forests", k=5, ranker="hicalm")
    w = out["query"]["room_weight"]
    for h in out["results"]:
        assert h["score"] == pytest.approx((h["metaverse_score"] + w * h["room_evidence"]) / (1 + w), abs=2e-4)


def test_kind_filter(service):
    for kind in ("museum", "game"):
        out = service.search(text="a racing game at night", kind=kind, k=50)
        assert out["results"] and all(r["kind"] == kind for r in out["results"])
        assert all(m["kind"] == kind for g in out["room_matches"] for m in g["matches"])


def test_engine_returns_typed_hits(service):
    from backend.search.hits import Hit, RoomHit
    from backend.search.queries import TextQuery
    hits = service.engine.rank(TextQuery.parse("stormy seas"), k=3)
    assert len(hits) == 3 and all(isinstance(h, Hit) for h in hits)
    assert all(isinstance(r, RoomHit) for r in hits[0].rooms)
    bare = service.engine.rank(TextQuery.parse("stormy seas"), k=3, attribute=False)
    assert [h.row for h in bare] == [h.row for h in hits] and bare[0].rooms == ()


def test_image_search_and_more_like_this(service, tmp_path):
    p = tmp_path / "q.png"
    Image.new("RGB", (80, 60), (30, 80, 160)).save(p)
    info = service.collection.metaverses[0]
    with open(p, "rb") as f:
        data = f.read()
    for query in ({"image": str(p)}, {"image": data}, {"image": Image.open(p)}):
        out = service.search(**query, k=3, ranker="baseline")
        assert out["query"]["type"] == "image" and len(out["results"]) == 3
    key = f"{info.id}/1/1"
    out = service.search(image_key=key, k=3, ranker="baseline")
    assert out["query"]["type"] == "stored_image" and out["query"]["key"] == key
    feat = service.collection.room_images(0)[0]
    best = float(np.max(service.engine.rankers["baseline"].metaverse_vecs @ (feat / np.linalg.norm(feat))))
    assert abs(out["results"][0]["score"] - best) < 1e-3  # the stored feature itself is the query
    assert service.search(image_key=key, k=3, ranker="hicalm")["results"]


def test_metaverses_as_query_never_return_themselves(service):
    ids = [m.id for m in service.collection.metaverses[:2]]
    for ranker in ("baseline", "hicalm"):
        out = service.search(metaverse_ids=ids, k=10, ranker=ranker)
        assert len(out["results"]) == 10 and not set(ids) & {r["id"] for r in out["results"]}
        assert not set(ids) & {m["metaverse_id"] for g in out["room_matches"] for m in g["matches"]}


def test_thumbnail_png(service):
    info = service.collection.metaverses[0]
    png = service.thumbnail_png(f"{info.id}/1/1", size=48)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(io.BytesIO(png)).size == (48, 48)
    with pytest.raises(ValueError, match="room 99 does not exist"):
        service.thumbnail_png(f"{info.id}/99/1")
    with pytest.raises(ValueError, match="not offered"):
        service.thumbnail_png(f"{info.id}/1/1", size=5000)


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
    ({"image_key": "museum-9999/1/1"}, "Unknown metaverse id 'museum-9999'"),
    ({"image_key": "nonsense"}, "Unknown image key 'nonsense'"),
    ({"text": "\u200b\u200b \ufeff"}, "The query is empty"),
    ({"text": "sea", "k": "abc"}, "k must be a whole number between 1 and 100, not 'abc'"),
    ({"text": "sea", "k": None}, "k must be a whole number between 1 and 100, not None"),
    ({"text": "sea", "k": 2.5}, "k must be a whole number"),
    ({"metaverse_ids": ["nope"]}, "Unknown metaverse id 'nope'"),
    ({"metaverse_ids": ["a", "a"]}, "Metaverse id given twice: a"),
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
    Image.new("1", (10000, 8500)).save(p)  # 85 MP, tiny file: over our limit, under PIL's own guard
    with pytest.raises(ValueError, match=f"85 megapixels\\); the limit is {MAX_MEGAPIXELS}"):
        service.search(image=str(p))


def test_decompression_bomb_is_refused_before_decoding_and_pil_guard_stays_on(service, tmp_path):
    import resource

    from backend.data.images import MAX_MEGAPIXELS
    p = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(p)  # 900 MP in ~100 KB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="bomb.png is larger than"):
        service.search(image=str(p))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing was decoded
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS >= MAX_MEGAPIXELS * 1_000_000


def test_surrogates_and_control_characters_are_cleaned(service):
    out = service.search(text="stormy\ud800 seas\x00\x07", k=1)
    assert out["query"]["text"] == "stormy seas"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_cli_search_json(tiny_bundle):
    r = _cli("search", "stormy seascapes", "--k", "3", "--json", "--bundle", str(tiny_bundle), "--kind", "museum")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    first = out["results"][0]
    assert {"id", "kind", "title", "score"} <= set(first) and first["kind"] == "museum"
    assert {"number", "score", "contribution"} <= set(first["rooms"][0])
    assert "room_matches" in out and "paragraph" not in first["rooms"][0]
    assert "Loading weights" not in r.stderr and "%|" not in r.stderr  # no progress bars on stderr
    r = _cli("search", "stormy seascapes", "--k", "1", "--full", "--json", "--bundle", str(tiny_bundle))
    assert "paragraph" in json.loads(r.stdout)["results"][0]["rooms"][0]
    r = _cli("search", "stormy seascapes", "--k", "1", "--bundle", str(tiny_bundle))
    best = json.loads(_cli("search", "stormy seascapes", "--k", "1", "--json", "--bundle",
                           str(tiny_bundle)).stdout)["results"][0]["best_room"]
    assert f"(room {best} carried" in r.stdout  # the same room number in text and JSON


def test_cli_reports_bad_input_and_missing_bundle(tiny_bundle, tmp_path):
    r = _cli("search", " ", "--bundle", str(tiny_bundle))
    assert r.returncode == 2 and "The query is empty" in r.stderr
    r = _cli("search", "sea", "--bundle", str(tmp_path / "missing"))
    assert r.returncode == 2 and "python -m backend build demo" in r.stderr and "Traceback" not in r.stderr


def test_the_warm_thread_starts_only_after_plotly_and_narwhals_are_imported():
    """app.py builds the UI, then start_warming(): the warm thread importing plotly while the UI's build imported it
    deadlocked on narwhals' circular imports and the app exited at start. In a fresh interpreter, whatever imported
    them before, they are in sys.modules when the thread starts, and it warms without error."""
    code = """
import sys, threading
from backend.service import SearchService
svc = SearchService.from_bundle('precomputed', check_hashes=False)
ready, start = {}, threading.Thread.start
def recording_start(self):
    ready[self.name] = {'narwhals.stable.v1', 'narwhals.stable.v2', 'plotly.graph_objects'} <= set(sys.modules)
    return start(self)
threading.Thread.start = recording_start
svc.start_warming()
[t.join(300) for t in threading.enumerate() if t.name == 'warm-caches']
print(ready.get('warm-caches'))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True", out.stdout[-500:]
