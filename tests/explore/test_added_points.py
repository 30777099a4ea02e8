"""Metaverses added at run time are on the Explore map (marked as added, placed by their neighbours) and can be liked,
through the same service the UI reads per call (issue 20, item 1)."""
from __future__ import annotations

import pytest

from tests.explore.conftest import add_copy, service_taking_additions


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    svc = service_taking_additions(tmp_path_factory.mktemp("store"))
    m = add_copy(svc, 7, "map-added")
    return svc, m.id, len(m.rooms)


def test_an_added_metaverse_is_a_marked_point_of_every_map(grown):
    from ui.components.maps import map_figure
    svc, original, n_rooms = grown
    for ranker in svc.rankers():
        data = svc.explore.map_json(ranker, "metaverse")
        p = data["points"]
        i = p["id"].index("map-added")
        assert p["added"][i] and sum(p["added"]) == 1 and "added" in p["title"][i]
        j = p["id"].index(original)
        # a copy's nearest neighbour is its original: it takes that cluster and lands beside it
        assert p["cluster"][i] == p["cluster"][j]
        assert abs(p["x"][i] - p["x"][j]) + abs(p["y"][i] - p["y"][j]) < 1.0
        rooms = svc.explore.map_json(ranker, "room")["points"]
        assert sum(rooms["added"]) == n_rooms and rooms["id"][-1] == f"map-added/{n_rooms}"
        fig = map_figure(data)
        marks = [t for t in fig.data if t.name.startswith("added since the build")]
        assert len(marks) == 1 and [c[0] for c in marks[0].customdata] == ["map-added"]


def test_an_added_metaverse_can_be_liked(grown):
    svc, _, _ = grown
    rec = svc.recommender.recommend(liked=["map-added"], k=5)
    assert [x["id"] for x in rec["liked"]] == ["map-added"] and len(rec["results"]) == 5
    assert rec["liked_map"]["id"] == ["map-added"]
