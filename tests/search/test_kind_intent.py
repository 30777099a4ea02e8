"""A query that names a kind searches that kind (backend/search/kind_intent.py, SearchService.search kind_intent)."""
from __future__ import annotations

import pytest

from backend.search.kind_intent import KindReader


@pytest.mark.parametrize("text, kind, word", [("a game with snowy mountains", "game", "game"),
                                              ("cozy farming game", "game", "game"),
                                              ("a museum of underwater scenes", "museum", "museum"),
                                              ("a museum with a racing track", "museum", "museum")])
def test_a_named_kind_is_the_only_kind_returned(service, text, kind, word):
    out = service.search(text=text, k=10, ranker="hicalm")
    assert out["query"]["kind_intent"] == {"kind": kind, "applied": True, "evidence": f"you wrote \u201c{word}\u201d"}
    assert out["query"]["kind"] == kind
    assert out["results"] and all(h["kind"] == kind for h in out["results"])


def test_show_all_keeps_every_kind_and_still_says_what_was_read(service):
    out = service.search(text="a game with snowy mountains", k=40, ranker="baseline", kind_intent=False)
    assert out["query"]["kind_intent"] == {"kind": "game", "applied": False, "evidence": "you wrote \u201cgame\u201d"}
    assert out["query"]["kind"] == "all"
    assert {h["kind"] for h in out["results"]} == {"game", "museum"}


@pytest.mark.parametrize("text", ["snowy mountains", "stormy seascapes, portraits", "racing track at sunset",
                                  "a room of night cities"])
def test_no_kind_named_means_no_intent(service, text):
    assert service.search(text=text, k=5)["query"]["kind_intent"] is None


def test_a_chosen_kind_or_a_non_text_query_reads_no_intent(service):
    out = service.search(text="a game with snowy mountains", kind="museum", k=5)
    assert out["query"]["kind_intent"] is None and all(h["kind"] == "museum" for h in out["results"])
    key = out["results"][0]["rooms"][0]["images"][0]["key"]
    assert service.search(image_key=key, k=5)["query"]["kind_intent"] is None


def test_the_strongest_word_wins_and_one_kind_collections_read_nothing(service):
    reader = service.kind_reader
    assert reader.read("a game with a room of portraits").kind == "game"
    col = service.collection
    assert KindReader(col, service.encoder, prototypes=None).read("a game") is not None   # computed on first use
    only_museums = type("C", (), {"metaverses": [m for m in col.metaverses if m.kind == "museum"]})()
    assert KindReader(only_museums, service.encoder).read("a game with snowy mountains") is None


def test_rest_takes_kind_intent_in_body_and_query(service):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from backend.api.http import make_router
    app = FastAPI()
    app.include_router(make_router(service))
    c = TestClient(app)
    body = c.post("/api/v1/search", json={"text": "a game with snowy mountains", "kind_intent": False}).json()
    assert body["query"]["kind_intent"]["applied"] is False and body["query"]["kind"] == "all"
    got = c.get("/api/v1/search", params={"q": "a game with snowy mountains"}).json()
    assert got["query"]["kind_intent"]["applied"] is True and {h["kind"] for h in got["results"]} == {"game"}
    off = c.get("/api/v1/search", params={"q": "a game with snowy mountains", "kind_intent": "false"}).json()
    assert off["query"]["kind_intent"]["applied"] is False



def test_prototypes_are_kept_between_starts_and_follow_their_inputs(service, tmp_path, monkeypatch, caplog):
    """The prototypes come from the cache on a second start (the same arrays), a changed opening paragraph gets new
    ones, and a damaged or unwritable cache only costs the computation."""
    import dataclasses
    import logging

    import numpy as np

    from backend.search import kind_intent
    from backend.search.kind_intent import KINDS, cached_kind_prototypes, kind_prototypes, prototypes_key
    col, enc = service.collection, service.encoder
    first = cached_kind_prototypes(col, enc, tmp_path)
    assert len(list(tmp_path.glob("kind-prototypes-*.npz"))) == 1
    with monkeypatch.context() as m:
        m.setattr(kind_intent, "kind_prototypes", lambda *a: pytest.fail("cached prototypes were computed again"))
        again = cached_kind_prototypes(col, enc, tmp_path)
    assert all(np.array_equal(first[k], again[k]) for k in KINDS)
    fresh = kind_prototypes(col, enc)
    assert all(np.allclose(first[k], fresh[k], atol=1e-6) for k in KINDS)
    m0 = col.metaverses[0]
    edited = dataclasses.replace(m0, paragraphs=["This game is about nothing at all."] + list(m0.paragraphs[1:]))
    changed = type("C", (), {"metaverses": [edited] + list(col.metaverses[1:])})()
    assert prototypes_key(changed, enc) != prototypes_key(col, enc)
    next(tmp_path.glob("kind-prototypes-*.npz")).write_bytes(b"damaged")
    with caplog.at_level(logging.WARNING):
        repaired = cached_kind_prototypes(col, enc, tmp_path)
    assert "unreadable" in caplog.text and all(np.allclose(repaired[k], fresh[k], atol=1e-6) for k in KINDS)
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert cached_kind_prototypes(col, enc, blocked / "cache") is not None      # cannot write there: still answers
