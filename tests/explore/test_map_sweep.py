"""The HDBSCAN sweep behind the metaverse maps: min_samples reaches HDBSCAN, the table prints, the stored choice is
the sweep's, and the shipped maps meet its bar (noise <= 15 % with ARI / NMI beside it)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from backend.explore.bundle_maps import METAVERSE_CLUSTERING, clustering_for
from backend.explore.maps import build_host, build_map
from backend.explore.sweep import MAX_NOISE, SETTING, sweep, table
from tests.conftest import REPO
from tests.explore.test_explore_maps import TEXTS, VECS


def test_min_samples_reaches_hdbscan_and_is_recorded():
    loose = build_map(VECS, TEXTS, seed=0, min_cluster_size=20, cluster_dims=2, min_samples=1)
    strict = build_map(VECS, TEXTS, seed=0, min_cluster_size=20, cluster_dims=2)
    assert loose.params["min_samples"] == 1 and strict.params["min_samples"] is None
    assert np.mean(loose.labels == -1) <= np.mean(strict.labels == -1)       # a smaller core: less noise
    with pytest.raises(ValueError, match="min_samples=0 is not allowed"):
        build_map(VECS, TEXTS, min_samples=0)


def test_build_maps_uses_the_sweeps_choice_per_space():
    assert clustering_for("hicalm", "metaverse") == METAVERSE_CLUSTERING["hicalm"]
    assert clustering_for("hicalm", "room")["cluster_selection"] == "eom"
    assert clustering_for("some-new-ranker", "metaverse")["min_cluster_size"] == 8


def test_shipped_metaverse_maps_meet_the_noise_bar():
    maps = json.loads((REPO / "precomputed" / "manifest.json").read_text())["maps"]
    for ranker, chosen in METAVERSE_CLUSTERING.items():
        entry = maps[ranker]["metaverse"]
        assert {k: entry["params"].get(k) for k in SETTING} == chosen, ranker    # built with the sweep's choice
        a = entry["agreement"]
        assert a["noise_fraction"] <= MAX_NOISE and {"adjusted_rand", "nmi"} <= set(a), (ranker, a)


@pytest.mark.slow
def test_the_sweep_chooses_what_build_maps_uses(capsys):
    report = sweep(REPO / "precomputed")
    with capsys.disabled():
        print("\n" + table(report))
    chosen = {r: {k: c[k] for k in SETTING} for r, c in report["choice"].items()}
    built_on = json.loads((REPO / "precomputed" / "manifest.json").read_text())["maps"]["hicalm"]["metaverse"][
        "params"].get("host")
    if built_on != build_host() and chosen != METAVERSE_CLUSTERING:
        # the sweep clusters a UMAP fit, and UMAP's floats depend on the host CPU (maps.REPRODUCES): on another host
        # it may choose otherwise, while the app keeps serving the stored labels
        pytest.skip(f"the stored maps were built on {built_on or 'an unrecorded host'}; on this host "
                    f"({build_host()}) the sweep chooses {chosen}, not {METAVERSE_CLUSTERING}")
    assert chosen == METAVERSE_CLUSTERING
