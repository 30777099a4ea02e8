"""bench-map in quick mode in headless Chromium: report structure, positive render/relayout/hover times, JSON file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def test_quick_map_render_bench_times_first_render_relayout_and_hover(tmp_path):
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("playwright is not installed")
    from backend.ops.bench_map_render import run_map_render_bench

    report = run_map_render_bench(out_dir=tmp_path, quick=True)
    for key in ("date", "machine", "chromium", "sizes", "app", "seconds"):
        assert key in report, key
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    assert report["chromium"].lower().startswith("chromium")
    assert report["app"] == {"skipped": "quick mode"}
    assert [s["points"] for s in report["sizes"]] == [650, 10_000]
    for size in report["sizes"]:
        assert size["repeats"] == 1 and len(size["runs"]) == 1
        assert size["traces"] >= 2 and size["html_bytes"] > 1_000_000   # plotly.js is inline
        for key in ("first_afterplot_ms", "first_frame_ms", "relayout_ms", "hover_ms"):
            assert _positive(size[key]), (size["points"], key, size[key])
        assert size["first_frame_ms"] >= size["first_afterplot_ms"]
        assert size["hover_label_shown"]
    assert report["sizes"][1]["html_bytes"] > report["sizes"][0]["html_bytes"]
    saved = json.loads((tmp_path / "map-render-bench.json").read_text())
    assert saved["sizes"][0]["first_afterplot_ms"] == report["sizes"][0]["first_afterplot_ms"]
