"""train --seeds: one model per seed scored on the dev half of a query set, per-seed figures with mean and spread,
and the bundle itself untouched."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _dev_queries(bundle, path):
    from backend.data.bundle import load_bundle
    from backend.eval.queryset import room_recipes
    col = load_bundle(bundle).collection
    lines = []
    for m in [i for i, x in enumerate(col.metaverses) if len(x.rooms) >= 2][:4]:
        r0, r1 = room_recipes(col, m)[:2]
        lines.append({"id": f"m{m}", "split": "dev", "type": "text", "kind": col.metaverses[m].kind, "ordered": False,
                      "target": col.metaverses[m].id, "text": f"{r0['subject']} in {r0['palette']}, {r1['subject']}",
                      "rooms": [{"subject": r0["subject"], "palette": r0["palette"]}, {"subject": r1["subject"]}]})
        lines.append({"id": f"o{m}", "split": "dev", "type": "text", "kind": col.metaverses[m].kind, "ordered": False,
                      "target": None, "text": r0["subject"], "rooms": [{"subject": r0["subject"]}]})
    lines.append({**lines[0], "id": "t0", "split": "test"})   # the test half is never read by a sweep
    path.write_text("".join(json.dumps(q) + "\n" for q in lines))
    return path


def test_seed_sweep_reports_every_seed_and_leaves_the_bundle(tiny_bundle, tmp_path):
    from backend.ops.seed_sweep import format_sweep, seed_sweep
    queries = _dev_queries(tiny_bundle, tmp_path / "q.jsonl")
    before = (tiny_bundle / "manifest.json").read_text()
    report = seed_sweep(tiny_bundle, [0, 1], queries, {"epochs": 1, "variant": "hicalm-avg", "typed_augment": 0.0},
                        work_dir=tmp_path)
    assert report["seeds"] == [0, 1] and report["query_split"] == "dev"
    assert set(report["per_seed"]) == {"0", "1"}
    for key in ("multi_room/R@1", "multi_room/R@10", "one_room/P@10"):
        values = [report["per_seed"][s][key] for s in ("0", "1")]
        assert report["mean"][key] == pytest.approx(sum(values) / 2, abs=1e-4)
        assert report["std"][key] is not None and report["std"][key] >= 0
        assert key in report["baseline"]
    assert (tiny_bundle / "manifest.json").read_text() == before           # the bundle is not retrained
    assert [p.name for p in tmp_path.iterdir()] == ["q.jsonl"]             # scratch bundles are gone
    assert json.loads(json.dumps(report)) == report                         # JSON keeps its keys
    table = format_sweep(report)
    assert "| multi_room/R@1 |" in table and "seed 0 | seed 1 | mean ± std | baseline" in table


def test_seed_sweep_cli_refuses_without_queries_or_with_bad_seeds(tiny_bundle):
    for extra, message in ((["--seeds", "0,1"], "needs --queries"), (["--seeds", "0,x", "--queries", "q"], "integers")):
        r = subprocess.run([sys.executable, "-m", "backend", "train", "--bundle", str(tiny_bundle), *extra], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and message in r.stderr, r.stderr
