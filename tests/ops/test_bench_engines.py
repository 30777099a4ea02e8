"""bench-engines runs faiss and Milvus Lite (as served, and one request per part) on the same queries: the report's
shape, that every engine's top 10 is faiss's, and that a typed
HiCALM query asks Milvus only for its metaverse lists."""
from __future__ import annotations

from backend.ops.bench_engines import ENGINES, run_engines_bench
from tests.conftest import REPO


def test_engines_bench_reports_each_engine_and_the_same_results(tmp_path):
    out = tmp_path / "engines.json"
    report = run_engines_bench(REPO / "precomputed", rounds=1, limit=3, rankers=["hicalm"], out=out)
    assert out.exists() and report["queries_per_round"] == 3
    rows = report["rankers"]["hicalm"]
    assert set(rows) == set(ENGINES)
    for engine, row in rows.items():
        assert row["top10_same_as_faiss"] == "3/3", engine
        assert row["search_ms"]["n"] == row["total_ms"]["n"] == 3
    assert rows["faiss"]["milvus_requests_per_query"]["max"] == 0
    served, per_part = rows["milvus"]["milvus_requests_per_query"], rows["milvus_per_part"]["milvus_requests_per_query"]
    # a typed HiCALM query's room lists come from its reading's rooms x spans product (engine.find_candidates), so
    # Milvus answers one metaverse request per list length, served or one per part alike
    assert served["max"] >= 1 and served == per_part
