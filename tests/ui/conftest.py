"""The headless Debian Chromium every browser test module drives (one per module, closed after it)."""
from __future__ import annotations

import pytest

from tests.ui.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, _skip_or_fail


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
