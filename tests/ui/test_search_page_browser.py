"""The Search page in headless Chromium (issue 19): state in the URL, results above the fold, the detail view, folded
readings, room matches per query part, paging, the kind-intent chip."""
from __future__ import annotations

import urllib.parse

import pytest

from tests.ui.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, DOCS, TIMEOUT_MS, _skip_or_fail, start_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from start_app(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, app_url):
    """open_page(params, width, height) -> a page of the app at ?params, loaded; closed after the test."""
    contexts = []

    def _open(params: dict | None = None, width: int = 1440, height: int = 1000, phone: bool = False):
        ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
        contexts.append(ctx)
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(app_url + ("?" + urllib.parse.urlencode(params) if params else ""))
        pg.wait_for_selector("#mv-query textarea")
        return pg

    yield _open
    for ctx in contexts:
        ctx.close()


def shot(page, name: str) -> None:
    page.wait_for_timeout(400)  # let images decode before the screenshot
    page.screenshot(path=str(DOCS / name), full_page=False)


def url_params(page) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))


def test_tab_in_the_url_opens_that_tab_and_selecting_a_tab_writes_it(open_page):
    from playwright.sync_api import expect

    page = open_page({"tab": "about"})
    expect(page.get_by_role("tab", name="About")).to_have_attribute("aria-selected", "true", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Recommend").click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('tab') === 'recommend'")
    page = open_page({"tab": "Study"})                       # case does not matter
    expect(page.get_by_role("tab", name="Study")).to_have_attribute("aria-selected", "true", timeout=TIMEOUT_MS)
    page = open_page({"tab": "nowhere"})                     # an unknown tab leaves the page on Search
    page.wait_for_timeout(1500)
    expect(page.get_by_role("tab", name="Search")).to_have_attribute("aria-selected", "true")
