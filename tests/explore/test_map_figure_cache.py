"""The Explore tab keeps each drawn map (issue 20, speed): a repeated draw sends the kept one, and a metaverse added at
run time is on the next draw (the served view is swapped whole, so the kept maps of the old view are not reused)."""
from __future__ import annotations

import json

import gradio as gr
import pytest

from tests.explore.conftest import add_copy, service_taking_additions


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    svc = service_taking_additions(tmp_path_factory.mktemp("store"))
    return svc


def _names(plot) -> list[str]:
    return [t.get("name") or "" for t in json.loads(plot.plot)["data"]]


def test_a_kept_map_is_reused_until_a_metaverse_is_added(svc):
    from ui.tabs import explore
    with gr.Blocks():
        ex = explore.build_tab(svc, gr.State([]), gr.State(None))
    draw = ex["draw"]
    ranker = svc.default_ranker
    first, note = draw(ranker, "metaverse", "all", None, None)
    assert first.type == "plotly" and "clusters" in note
    assert draw(ranker, "metaverse", "all", None, None)[0] is first              # kept: not drawn again
    found = draw(ranker, "metaverse", "all", None, None, "Gallery 0007")[0]      # another view is its own map
    assert found is not first and any(n.startswith("“Gallery 0007”: 1 found") for n in _names(found))
    assert not any(n.startswith("added since the build") for n in _names(first))

    add_copy(svc, 7, "cache-added")
    after, note = draw(ranker, "metaverse", "all", None, None)
    assert after is not first and "1 added since the build" in note
    added = [t for t in json.loads(after.plot)["data"] if (t.get("name") or "").startswith("added since the build")]
    assert len(added) == 1 and [c[0] for c in added[0]["customdata"]] == ["cache-added"]   # the ◇ point
    assert draw(ranker, "metaverse", "all", None, None)[0] is after


def test_a_search_result_draws_its_own_map(svc):
    from ui.tabs import explore
    with gr.Blocks():
        ex = explore.build_tab(svc, gr.State([]), gr.State(None))
    ranker = svc.default_ranker
    plain = ex["draw"](ranker, "metaverse", "all", None, None)[0]
    result = svc.search(text="a room of stormy seascapes", k=5, ranker=ranker)
    hits = ex["draw"](ranker, "metaverse", "all", result, None)[0]
    assert hits is not plain and "search hits" in _names(hits) and "search hits" not in _names(plain)
    other = svc.search(text="a neon night city", k=5, ranker=ranker)
    assert ex["draw"](ranker, "metaverse", "all", other, None)[0] is not hits
    assert ex["draw"](ranker, "metaverse", "all", result, None)[0] is hits
