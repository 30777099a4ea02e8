"""HiCALM's served room scores: a weighted sum of its room space and the encoder's own (ROOM_TOWER_WEIGHT), as one
inner product of joint unit vectors; and what that buys on style words, on the served bundle."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.search.rankers.baseline import room_image_means
from backend.search.rankers.hicalm import HicalmRanker

REPO = Path(__file__).resolve().parents[2]


def _hicalm(service):
    return service.engine.rankers["hicalm"]


def test_joint_vectors_are_unit_and_their_product_is_the_weighted_sum(service):
    rk = _hicalm(service)
    b, h_dim = HicalmRanker.ROOM_TOWER_WEIGHT, rk.visual_room_vecs.shape[1]
    assert 0 < b < 1
    np.testing.assert_allclose(np.linalg.norm(rk.room_vecs, axis=1), 1.0, atol=1e-5)
    qv = rk.encode_text("stormy seascapes, flower still lifes")
    np.testing.assert_allclose(np.linalg.norm(qv.parts, axis=1), 1.0, atol=1e-5)
    h_part, e_part = qv.parts[:, :h_dim] / np.sqrt(1 - b), qv.parts[:, h_dim:] / np.sqrt(b)
    tower = room_image_means(rk.collection, 0, rk.collection.n_rooms)
    expected = (1 - b) * rk.visual_room_vecs @ h_part.T + b * tower @ e_part.T
    np.testing.assert_allclose(rk.room_vecs @ qv.parts.T, expected, atol=1e-5)
    # images (attribution) and an image query live in the same joint space
    assert rk.image_vecs(np.arange(3)).shape[1] == rk.room_vecs.shape[1]
    image_qv = rk.encode_image_feature(rk.collection.image_feats[0], "x")
    assert image_qv.room.shape == (rk.room_vecs.shape[1],)


def test_weight_zero_serves_hicalms_room_space_alone(service, monkeypatch):
    monkeypatch.setattr(HicalmRanker, "ROOM_TOWER_WEIGHT", 0.0)
    rk = HicalmRanker.from_bundle(service.bundle, service.encoder)
    h_dim = rk.visual_room_vecs.shape[1]
    np.testing.assert_array_equal(rk.room_vecs[:, :h_dim], rk.visual_room_vecs)
    assert not rk.room_vecs[:, h_dim:].any()


@pytest.mark.slow
def test_style_words_find_rooms_of_that_style_on_the_served_bundle(monkeypatch):
    """Three queries of queries/style-dev-v1.jsonl (the dev set the weight was tuned on): more of their relevant
    metaverses in the top 10 with the encoder's share than without it (2026-12-06: 27 against 17 of 30)."""
    from backend.eval.queryset import load_queries, relevant_ids, room_recipes
    from backend.service import SearchService
    queries = [q for q in load_queries(REPO / "queries" / "style-dev-v1.jsonl") if q["id"] in ("s005", "s013", "s021")]

    def found(weight: float) -> int:
        monkeypatch.setattr(HicalmRanker, "ROOM_TOWER_WEIGHT", weight)
        svc = SearchService.from_bundle(REPO / "precomputed", check_hashes=False)
        recipes = [room_recipes(svc.collection, m) for m in range(svc.collection.n_metaverses)]
        n = 0
        for q in queries:
            rel = relevant_ids(svc.collection, q, recipes)
            n += sum(h["id"] in rel for h in svc.search(text=q["text"], k=10, ranker="hicalm")["results"])
        return n

    assert found(HicalmRanker.ROOM_TOWER_WEIGHT) > found(0.0)


def test_joining_no_rows_gives_no_rows(service):
    """An extension with no new rooms joins empty arrays; mismatched counts are refused."""
    rk = _hicalm(service)
    h_dim, d = rk.visual_room_vecs.shape[1], rk.collection.image_feats.shape[1]
    assert rk.joint(np.zeros((0, h_dim), np.float32), np.zeros((0, d), np.float32)).shape == (0, h_dim + d)
    with pytest.raises(ValueError, match="one of each"):
        rk.joint(np.zeros((2, h_dim), np.float32), np.zeros((3, d), np.float32))


def test_the_reading_product_is_the_engines_room_scores(service):
    """A typed query's rooms x parts scores come with its vectors (the reading took that product over every room);
    they are the product the engine would take itself; an image query leaves it to the engine."""
    rk = _hicalm(service)
    qv = rk.encode_text("sepia sand dunes pastel mountains grey ruins")
    assert qv.room_part_scores.shape == (len(rk.room_vecs), len(qv.parts))
    np.testing.assert_allclose(qv.room_part_scores, rk.room_vecs @ qv.parts.T, atol=1e-5)
    assert rk.encode_image_feature(rk.collection.image_feats[0], "x").room_part_scores is None
