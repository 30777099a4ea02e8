"""Maps reproduce (issue 20, item 2): a small map rebuilt twice is the same to the bit; rebuilt against a stored one,
the same where the stored map was built on the same host CPU (and skipped, saying why, elsewhere); the labels the
app serves are the stored labels, never recomputed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.explore.maps import build_host, build_map, load_map, save_map

STORED = Path(__file__).parent / "data"
PREFIX = "small_map"


def small_collection() -> tuple[np.ndarray, list[str]]:
    """120 items in 4 themes of 16-d vectors with noise, deterministic."""
    rng = np.random.default_rng(20)
    centres = rng.normal(size=(4, 16))
    theme = np.repeat(np.arange(4), 30)
    vecs = centres[theme] + 0.35 * rng.normal(size=(120, 16))
    words = ["harbour boats", "forest trees", "night city", "desert dunes"]
    return vecs.astype(np.float32), [f"a room of {words[t]} number {i}" for i, t in enumerate(theme)]


def build_small() -> object:
    vecs, texts = small_collection()
    return build_map(vecs, texts, seed=0, min_cluster_size=10, min_samples=1)


@pytest.mark.slow
def test_a_map_rebuilt_twice_is_identical():
    a, b = build_small(), build_small()
    assert np.array_equal(a.coords, b.coords) and np.array_equal(a.labels, b.labels)
    assert a.cluster_terms == b.cluster_terms and a.medoids == b.medoids
    assert a.params["host"] == build_host() and "host CPU" in a.params["reproduces"]


@pytest.mark.slow
def test_a_rebuild_matches_the_stored_map_built_on_the_same_host():
    stored = load_map(STORED, PREFIX)
    if stored.params["host"] != build_host():
        pytest.skip(f"stored map built on {stored.params['host']}, this host is {build_host()}: only the same host "
                    f"CPU and BLAS kernels promise the same floats (maps.REPRODUCES)")
    now = build_small()
    assert np.array_equal(now.coords, stored.coords) and np.array_equal(now.labels, stored.labels)


def test_the_app_serves_the_stored_labels():
    from backend.data.bundle import load_bundle
    from backend.explore.service import ExploreService
    from backend.paths import REPO
    bundle = load_bundle(REPO / "precomputed")
    svc = ExploreService(bundle, ["baseline", "hicalm"], "hicalm")
    for (ranker, level), m in svc.maps.items():
        entry = bundle.manifest["maps"][ranker][level]
        assert np.array_equal(m.labels, bundle.load_array(entry["labels"]))
        assert np.array_equal(m.coords, bundle.load_array(entry["coords"]))
        served = svc.map_json(ranker, level)
        assert served["points"]["cluster"] == bundle.load_array(entry["labels"]).tolist()


if __name__ == "__main__":   # writes the stored fixture: python -m tests.explore.test_map_reproducible
    print(save_map(build_small(), STORED, PREFIX))
