"""The scale bench on a small synthetic collection: the approximate index path keeps recall, the report has its
fields, generation is deterministic by seed. No timing assertions."""
import json

import numpy as np
import pytest

from backend.data.synthetic_scale import load_demo_vectors, make_scale_collection, make_scale_queries
from backend.ops.bench_scale import LEVELS, run_scale_bench, run_size
from backend.search.index import KindIndex, VectorIndex


@pytest.fixture(scope="module")
def demo():
    return load_demo_vectors()


@pytest.fixture
def one_faiss_thread():
    """faiss's OpenMP k-means on tiny sets crawls when the 2 cores are shared with other work; one thread keeps the
    index builds here at a few seconds whatever else runs."""
    from backend.device import limited_library_threads
    with limited_library_threads(1):
        yield


def test_generation_is_deterministic_by_seed(demo):
    a, b = make_scale_collection(2_000, seed=3, demo=demo), make_scale_collection(2_000, seed=3, demo=demo)
    c = make_scale_collection(2_000, seed=4, demo=demo)
    for name in ("metaverse_vecs", "room_vecs", "room_offsets", "kind_codes", "template"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.room_vecs[:100], c.room_vecs[:100])
    assert a.room_vecs.dtype == np.float32 and a.metaverse_vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(a.room_vecs, axis=1), 1, atol=1e-5)
    rooms = np.diff(a.room_offsets)
    assert rooms.min() >= 3 and rooms.max() <= 9 and a.room_offsets[-1] == a.n_rooms
    # kinds follow the demo's proportion (500 museums : 150 games)
    assert abs((a.kind_codes == 0).mean() - (demo.kind_codes == 0).mean()) < 0.05
    qa, qb = make_scale_queries(20, 3, demo), make_scale_queries(20, 3, demo)
    assert np.array_equal(qa.parts, qb.parts) and np.array_equal(qa.metaverse, qb.metaverse)
    assert 1 <= np.diff(qa.part_offsets).min() and np.diff(qa.part_offsets).max() <= 3


def test_approximate_path_keeps_recall_and_report_has_fields(one_faiss_thread):
    report = run_size(5_000, queries=30, seed=0, kind="game", approximate=True, warmup=2)
    for level in LEVELS:
        for index in report["index"][level].values():
            assert index["type"] == "IVF-PQ+refine"
        for f in ("all", "game"):
            assert report["recall_at_10"][level][f] >= 0.95, (level, f, report["recall_at_10"])
            assert {"p50", "p95", "candidates_max"} <= set(report["latency_ms"][level][f])
    assert report["n_rooms"] > 3 * 5_000 and set(report["build_s"]) == {"metaverse", "room"}
    assert {"after_generate", "after_build", "peak"} <= set(report["rss_mb"])
    assert report["generate_s"] >= 0 and report["exact_s"] >= 0


def test_kind_index_all_is_the_merge_of_disjoint_kinds(one_faiss_thread):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((3_000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    kinds = np.where(rng.random(3_000) < 0.7, "museum", "game")
    index = KindIndex(vecs, kinds)
    assert sum(len(v) for v in index.by_kind.values()) == len(vecs)           # one row, one index
    q = vecs[5]
    scores, ids = index.search(q, 20, "all")
    exact = np.argsort(-(vecs @ q))[:20]
    assert np.array_equal(ids, exact) and np.allclose(scores, vecs[exact] @ q)
    _, game_ids = index.search(q, 20, "game")
    assert set(kinds[game_ids]) == {"game"}
    approx = VectorIndex(vecs, np.arange(len(vecs)), approximate=True)
    assert approx.describe()["type"] == "IVF-PQ+refine"
    a_scores, a_ids = approx.search(q, 10)
    assert np.allclose(a_scores, vecs[a_ids] @ q)                            # re-ranked scores are exact


def test_run_scale_bench_writes_report_and_plot(tmp_path):
    out, plot = tmp_path / "scale.json", tmp_path / "scale.png"
    report = run_scale_bench([1_000], queries=5, kind="museum", out=out, plot=plot)
    assert json.loads(out.read_text())["sizes"][0]["n_metaverses"] == 1_000
    assert plot.stat().st_size > 0
    assert report["sizes"][0]["index"]["room"]["museum"]["type"] == "flat"     # small: exact by size
