"""`build maps` on a bundle: maps stored with their parameters and hashes, served back, a query placed among its hits."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # UMAP fits (numba compiles on first use)


def test_build_maps_then_serve(bundle_copy):
    from backend.data.bundle import load_bundle
    from backend.ops.build import build_maps
    from backend.service import SearchService
    report = build_maps(bundle_copy)
    assert set(report) == {"baseline", "hicalm"} and set(report["hicalm"]) == {"metaverse", "room"}
    bundle = load_bundle(bundle_copy)                            # hashes of the new artifacts check out
    entry = bundle.manifest["maps"]["hicalm"]["metaverse"]
    assert entry["params"]["seed"] == 0 and entry["agreement"]["noise_fraction"] >= 0
    service = SearchService.from_bundle(bundle_copy)
    data = service.explore.map_json("hicalm", "metaverse")
    assert len(data["points"]["x"]) == service.collection.n_metaverses
    rooms = service.explore.map_json("hicalm", "room", kind="museum")
    assert set(rooms["points"]["kind"]) == {"museum"}
    result = service.search(text="stormy seas", k=5)
    placed = service.explore.place_result(result)
    xs = [h["x"] for h in placed["hits"]]
    assert len(placed["hits"]) == 5 and min(xs) - 1e-6 <= placed["query"]["x"] <= max(xs) + 1e-6
    if data["clusters"]:
        members = service.explore.cluster_members(data["clusters"][0]["cluster"], "hicalm")
        assert members["members"][0]["id"] == members["medoid"]
    again = build_maps(bundle_copy)                               # the same seed gives the same map
    assert again["hicalm"]["metaverse"]["clusters"] == report["hicalm"]["metaverse"]["clusters"]
