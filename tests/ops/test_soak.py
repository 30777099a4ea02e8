"""The soak command in a few seconds: RSS sampled, phases reported, no errors below the queue limit."""
from __future__ import annotations

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.browser  # starts the real app (no browser, but as slow)


def test_short_soak(tmp_path):
    from backend.ops.soak import run_soak
    report = run_soak(REPO / "precomputed", seconds=4, burst_seconds=4, k=10, overload_clients=12,
                      out=tmp_path / "soak.json")
    eight, thirty_two, over = report["phases"]
    assert eight["clients"] == 8 and eight["requests"] > 0 and eight["errors"] == 0
    assert thirty_two["errors"] == 0 and thirty_two["latency_ms"]["p50"] > 0
    assert report["rss_mb"]["peak"] >= report["rss_mb"]["start"] > 0
    assert (tmp_path / "soak.json").exists()
