"""The recommend and explore services over a real (tiny) bundle: requests checked, JSON shape, no map = clear message."""
from __future__ import annotations

import pytest


def test_recommend_json_shape(service):
    ids = [m.id for m in service.collection.metaverses[:6]]
    out = service.recommender.recommend(liked=ids, k=5, d=0.2, seed=1)
    assert len(out["results"]) == 5 and not set(ids) & {r["id"] for r in out["results"]}
    assert len({r["id"] for r in out["results"]}) == 5
    assert sum(s["share"] for s in out["seeds"]) == 5 and all(s["reason"] for s in out["seeds"])
    assert {r["seed"] for r in out["results"]} <= {s["id"] for s in out["seeds"]}
    assert 0 <= out["ild"] <= 2 and [x["id"] for x in out["liked"]] == ids
    again = service.recommender.recommend(liked=ids, k=5, d=0.2, seed=1)   # a seed reproduces the run
    assert [(r["id"], r["seed"]) for r in again["results"]] == [(r["id"], r["seed"]) for r in out["results"]]


def test_cold_start_and_one_liked(service):
    assert len(service.recommender.recommend(liked=[], k=4)["results"]) == 4
    one = service.collection.metaverses[0].id
    out = service.recommender.recommend(liked=[one], k=3)
    assert [s["id"] for s in out["seeds"]] == [one] and one not in {r["id"] for r in out["results"]}


def test_k_larger_than_what_is_left_is_clamped(service):
    ids = [m.id for m in service.collection.metaverses]
    out = service.recommender.recommend(liked=ids[:-3], k=10)
    assert len(out["results"]) == 3 and out["params"]["k_returned"] == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"liked": ["nope"]}, "Unknown metaverse id 'nope'"),
    ({"liked": ["museum-0000", "museum-0000"]}, "Liked metaverse given twice: museum-0000"),
    ({"d": 1.5}, "d must be between 0 and 1"),
    ({"d": "x"}, "d must be a number between 0 and 1"),
    ({"mode": "magic"}, "Unknown mode 'magic'"),
    ({"k": 0}, "k must be between 1 and 100"),
    ({"seed": -1}, "seed must be a whole number >= 0"),
])
def test_bad_requests(service, kwargs, message):
    with pytest.raises(ValueError, match=message):
        service.recommender.recommend(**kwargs)


def test_every_item_liked_is_a_clear_error(service):
    with pytest.raises(ValueError, match="Every metaverse is liked"):
        service.recommender.recommend(liked=[m.id for m in service.collection.metaverses], k=3)


def test_a_bundle_without_maps_says_how_to_build_them(service):
    assert not service.explore.available()
    with pytest.raises(ValueError, match="python -m backend build maps"):
        service.explore.map_json()


def test_the_response_says_which_parameters_changed_nothing(service):
    ids = [m.id for m in service.collection.metaverses[:5]]
    out = service.recommender.recommend(liked=ids, k=10, d=0.9, mode="per-cluster", seed=0)
    assert sum(s["share"] for s in out["seeds"]) == 10
    if out["params"]["branch"] == "no-clusters":                             # every liked item is a listed seed
        assert sorted(s["id"] for s in out["seeds"]) == sorted(ids)
        assert all(s["share"] >= 1 for s in out["seeds"])
        assert set(out["ignored"]) == {"d", "mode"}
    cold = service.recommender.recommend(liked=[], k=3)
    assert "cold start" in cold["ignored"]["d"]
