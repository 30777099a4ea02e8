"""The headless Debian Chromium every browser test module drives (one per module, closed after it), and one wait
for every expect(): Playwright's 5 s default failed a study check while the suite ran beside a load test, and a
test must not depend on the machine being idle (a wrong page still fails, after TIMEOUT_MS)."""
from __future__ import annotations

import pytest

from tests.ui.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, _skip_or_fail

try:
    from playwright.sync_api import expect
    expect.set_options(timeout=TIMEOUT_MS)
except ImportError:   # no Playwright: the browser fixture skips (or fails under REQUIRE_BROWSER) with the reason
    pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
