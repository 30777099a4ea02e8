"""Drives the real app in headless Debian Chromium: text query, image upload, click-to-search, screenshot."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOT = ROOT / "docs" / "screenshot.png"
TIMEOUT_MS = 90_000
REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def start_app(tmp_path: Path):
    """Yield the URL of a running app: METAVERSE_APP_URL if set, else `python app.py` on a free port."""
    if os.environ.get("METAVERSE_APP_URL"):
        yield os.environ["METAVERSE_APP_URL"].rstrip("/") + "/"
        return
    bundle = Path(os.environ.get("METAVERSE_BUNDLE", ROOT / "precomputed"))
    if not (bundle / "manifest.json").exists():
        _skip_or_fail(f"no bundle at {bundle} (build it with `python -m backend build demo` or set METAVERSE_BUNDLE)")
    from backend.ops.app_process import running_app
    try:
        with running_app(bundle, log_path=tmp_path / "app.log") as app:
            yield app.url
    except RuntimeError as e:  # the app exited or never answered: show its log
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from start_app(tmp_path_factory.mktemp("app"))


def _query_image(path: Path) -> Path:
    """A PNG to upload: a rendered demo-world image when the renderer is there, else a PIL-drawn seascape."""
    from PIL import Image, ImageDraw

    try:
        from backend.world.render import render_image  # type: ignore[import-not-found]

        img = render_image({"subject": "seascape", "palette": "stormy greys", "style": "impressionist", "seed": 7}, size=128)
    except Exception:
        img = Image.new("RGB", (128, 128), (40, 80, 160))
        d = ImageDraw.Draw(img)
        d.rectangle([0, 0, 128, 50], fill=(90, 110, 140))
        for y in range(60, 128, 12):
            d.arc([-20, y - 10, 60, y + 10], 200, 340, fill=(230, 240, 255), width=3)
            d.arc([50, y - 6, 140, y + 14], 200, 340, fill=(230, 240, 255), width=3)
    out = path / "query.png"
    img.convert("RGB").save(out)
    return out


@pytest.fixture(scope="module")
def page(app_url):
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1300})
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(app_url)
        pg.wait_for_selector("#mv-query textarea")
        yield pg
        browser.close()


def test_text_query_shows_cards_with_attribution(page):
    from playwright.sync_api import expect

    page.fill("#mv-query textarea", "a museum with a room of stormy seascapes and a room of flower still lifes")
    page.click("#mv-search-btn")
    expect(page.locator("#mv-status")).to_contain_text("metaverse", timeout=TIMEOUT_MS)
    cards = page.locator("#mv-cards .mv-card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 1
    first = cards.first
    assert first.locator(".mv-room").count() >= 1
    assert first.locator(".mv-bar-fill").count() == first.locator(".mv-room").count()
    expect(first.locator(".mv-room-best")).to_have_count(1)
    expect(first).to_contain_text("carried")
    page.wait_for_timeout(500)  # let images decode before the screenshot
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_empty_query_shows_message(page):
    from playwright.sync_api import expect

    page.fill("#mv-query textarea", "   ")
    page.click("#mv-search-btn")
    expect(page.locator("#mv-status")).to_contain_text("⚠️", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-cards .mv-card").first).to_be_visible()  # previous results stay


def test_image_upload_searches(page, tmp_path):
    from playwright.sync_api import expect

    page.set_input_files("#mv-image input[type=file]", str(_query_image(tmp_path)))
    expect(page.locator("#mv-status")).to_contain_text("your image", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-cards .mv-card").first).to_be_visible()


def test_click_thumbnail_searches_more_like_this(page):
    from playwright.sync_api import expect

    thumb = page.locator("#mv-cards img.mv-thumb[data-ref]").first
    if thumb.count() == 0:
        pytest.skip("this bundle has no images (real data without thumbnails)")
    ref = thumb.get_attribute("data-ref")
    thumb.click()
    expect(page.locator("#mv-status")).to_contain_text("more like the selected image", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-cards .mv-card").first).to_be_visible()
    assert page.locator("#mv-ref-box textarea, #mv-ref-box input").first.input_value() == ref

    match = page.locator("#mv-matches img[data-ref]").first
    if match.count():
        match_ref = match.get_attribute("data-ref")
        match.click()
        expect(page.locator("#mv-ref-box textarea, #mv-ref-box input").first).to_have_value(match_ref)
        expect(page.locator("#mv-cards .mv-card").first).to_be_visible()
