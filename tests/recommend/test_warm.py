"""The start-up warm-up (issue 20, item 5): one small recommendation per ranker and every map's JSON, done before the
first person asks; it changes nothing that a later request sees (no speed is asserted)."""
from __future__ import annotations

import pytest

from backend.paths import REPO
from backend.service import SearchService


@pytest.fixture(scope="module")
def svc():
    return SearchService.from_bundle(REPO / "precomputed")


def test_warm_up_leaves_answers_unchanged(svc):
    ids = [m.id for m in svc.collection.metaverses[40:52]]
    before = svc.recommender.recommend(liked=ids, k=10, seed=3)
    assert svc.recommender.warm() >= 0
    svc.explore.warm()
    assert set(svc.explore._map_json) == {(r, lvl, "all") for r, lvl in svc.explore.maps}
    after = svc.recommender.recommend(liked=ids, k=10, seed=3)
    assert [r["id"] for r in after["results"]] == [r["id"] for r in before["results"]]
    assert after["seeds"] == before["seeds"]
