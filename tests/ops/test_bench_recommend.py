"""bench-recommend in quick mode on the shipped bundle: report structure, value ranges, plots, latency."""
from __future__ import annotations

import json
from pathlib import Path

from backend.ops.bench_recommend import run_recommend_bench
from tests.conftest import REPO


def test_quick_recommend_bench_reports_ild_on_topic_latency_and_plots(tmp_path):
    report = run_recommend_bench(REPO / "precomputed", out_dir=tmp_path, quick=True)
    for key in ("date", "machine", "bundle", "params", "ild_vs_k", "ild_vs_d", "latency", "map_build", "plots"):
        assert key in report, key
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"] and report["machine"]["python"]
    assert report["params"]["draws"] >= 2 and "themes" in report["params"]["liked_rule"]
    rows = report["ild_vs_k"] + report["ild_vs_d"]
    assert {r["mode"] for r in rows} == {"paper", "per-cluster", "random"}
    assert {r["n_liked"] for r in rows} == {20, 200}
    assert {r["ranker"] for r in rows} == {"hicalm", "baseline"}
    assert {r["d"] for r in report["ild_vs_d"] if r["mode"] == "paper"} >= {0.05, 0.95}
    for r in rows:
        assert 0.0 <= r["ild"] <= 2.0, r
        for name in ("on_topic", "on_topic_any", "on_interest"):
            assert 0.0 <= r[name] <= 1.0, r
    for path in report["plots"].values():
        assert Path(path).parent == tmp_path and path.endswith(".png") and Path(path).stat().st_size > 1000
    latency = report["latency"]
    assert latency["n_liked"] == 50 and 0 < latency["p50"] <= latency["p95"]
    assert set(latency["by_ranker"]) == {"hicalm", "baseline"}
    assert report["map_build"]["seconds"]["hicalm"]["metaverse"] > 0
    assert json.loads((tmp_path / "recommend-bench.json").read_text())["latency"]["p50"] == latency["p50"]
