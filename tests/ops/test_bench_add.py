"""`bench-add` on the tiny bundle: per size a latency summary and the counted work of each add, the same at every
size on the appending path and growing with the store on the old one (work is counted; no time is asserted)."""
from __future__ import annotations

import json

from backend.ops.bench_add import generated_spec, run_add_bench


def test_the_add_bench_counts_constant_work_where_the_old_path_grows(tiny_bundle, tmp_path):
    report = run_add_bench(tiny_bundle, sizes=(2, 12), repeats=2, old=True, old_sizes=(2, 12), old_repeats=1,
                           out=tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text())["appending"] == report["appending"]
    new, old = report["appending"], report["old"]
    assert [r["existing"] for r in new] == [r["existing"] for r in old] == [2, 12]
    for r in new:
        assert r["add_ms"]["n"] == 2 and r["add_ms"]["p50"] <= r["add_ms"]["p95"]
        assert not r["rebuilt"] and r["files_hashed_per_add"] == [2]
    assert new[0]["vectors_indexed_per_add"] == new[1]["vectors_indexed_per_add"]
    assert all(r["rebuilt"] for r in old)
    assert old[1]["files_hashed_per_add"][0] > old[0]["files_hashed_per_add"][0] > 2
    assert old[1]["vectors_indexed_per_add"][0] > old[0]["vectors_indexed_per_add"][0] > new[0]["vectors_indexed_per_add"][0]


def test_generated_specs_are_distinct_and_valid():
    from backend.grow.spec import parse_spec
    a, b = generated_spec(1, 8), generated_spec(2, 8)
    assert a["id"] != b["id"] and a["kind"] != b["kind"]
    new = parse_spec(a, dim=8)
    assert len(new.rooms) == 2 and new.rooms[0].features.shape == (3, 8)
