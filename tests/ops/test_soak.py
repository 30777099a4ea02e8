"""The soak command on a short run: RSS sampled, phases reported, no errors below the queue limit. It counts answers,
not seconds: each phase runs until it has its answers, however busy the machine (a cap of minutes fails only a run
that answers nothing), and nothing here asserts on latency or throughput."""
from __future__ import annotations

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.browser  # starts the real app (no browser, but as slow)

ANSWERS = 16      # per phase: two per client of the first phase, one for half the clients of the second
CAP_S = 600       # per phase; reached only if the app answers nothing at all


def test_short_soak(tmp_path):
    from backend.ops.soak import run_soak
    report = run_soak(REPO / "precomputed", seconds=0, burst_seconds=0, k=10, overload_clients=12,
                      out=tmp_path / "soak.json", min_requests=ANSWERS, cap_s=CAP_S, client_timeout_s=CAP_S)
    eight, thirty_two, over = report["phases"]
    assert [p["clients"] for p in report["phases"]] == [8, 32, 12]
    for phase in (eight, thirty_two):                          # below the queue's 64: every request is answered
        assert phase["errors"] == 0, phase["first_errors"]
        assert phase["requests"] >= ANSWERS, phase
        assert phase["latency_ms"]["n"] == phase["requests"]   # every answer timed, none lost from the report
    assert over["requests"] + over["errors"] > 0
    rest = report["rest_burst"]                                 # REST: each request answered or refused, none odd
    assert rest["sent"] > 0 and rest["other_status"] == 0 and rest["sent"] == (
        rest["ok"] + rest["busy_503"] + rest["client_errors"])
    assert report["rss_mb"]["peak"] >= report["rss_mb"]["start"] > 0
    assert (tmp_path / "soak.json").exists()
