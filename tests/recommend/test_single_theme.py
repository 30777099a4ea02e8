"""One clear interest on the shipped bundle: 20 single-theme sets of 10 likes get clusters, not 'no clusters'."""
from __future__ import annotations

from backend.ops.bench_recommend import single_theme
from backend.service import SearchService
from tests.conftest import REPO


def test_single_theme_like_sets_form_a_cluster(capsys):
    service = SearchService.from_bundle(REPO / "precomputed")
    report = single_theme(service)
    with capsys.disabled():                                                 # the measurement, as bench-recommend has it
        print(f"\nsingle-theme like-sets ({report['sets']} of 10 likes):",
              {r: (v["branches"], v["on_theme_mean"]) for r, v in report["by_ranker"].items()})
    for ranker, row in report["by_ranker"].items():
        assert sum(row["branches"].values()) == 20
        # before the random-set test (fixed gain 0.2) 6 of 20 landed in "no clusters" for both rankers; now 0-1
        assert row["branches"].get("no-clusters", 0) <= 2, (ranker, row)
        assert row["d_ignored"] == row["branches"].get("no-clusters", 0)    # d acts wherever there is a cluster
