"""The Search page in headless Chromium (issue 19): state in the URL, results above the fold, the detail view, folded
readings, room matches per query part, paging, the kind-intent chip."""
from __future__ import annotations

import urllib.parse

import pytest

from tests.ui.test_ui_browser import DOCS, TIMEOUT_MS, start_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from start_app(tmp_path_factory.mktemp("app"))


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
        pg.wait_for_selector("#mv-query textarea", state="attached")  # hidden when ?tab= opens another tab
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
    page = open_page({"tab": "explore"})                     # opened by the URL, the map is drawn all the same
    expect(page.locator("#mv-map .js-plotly-plot")).to_be_visible(timeout=TIMEOUT_MS)
    page = open_page({"tab": "nowhere"})                     # an unknown tab leaves the page on Search
    page.wait_for_timeout(1500)
    expect(page.get_by_role("tab", name="Search")).to_have_attribute("aria-selected", "true")


def search(page, text: str) -> None:
    page.fill("#mv-query textarea", text)
    page.click("#mv-search-btn")


def test_query_and_kind_in_the_url_search_and_each_search_writes_them(open_page):
    from playwright.sync_api import expect

    page = open_page({"q": "a room of stormy seascapes", "kind": "museum"})
    status = page.locator("#mv-status")
    expect(status).to_contain_text("for “a room of stormy seascapes” · museums", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-query textarea")).to_have_value("a room of stormy seascapes")
    expect(page.get_by_label("Museums")).to_be_checked()
    expect(page.locator("#mv-cards .mv-card").first).to_be_visible()
    assert not page.locator("#mv-cards .mv-badge-game").count()
    search(page, "snowy mountains & forests")                    # the address follows, ready to share
    expect(status).to_contain_text("snowy mountains & forests", timeout=TIMEOUT_MS)
    page.wait_for_function("() => new URL(location.href).searchParams.get('q') === 'snowy mountains & forests'")
    assert url_params(page)["kind"] == "museum"
    page.get_by_label("All", exact=True).check()
    expect(status).to_contain_text("all kinds", timeout=TIMEOUT_MS)
    page.wait_for_function("() => !new URL(location.href).searchParams.has('kind')")
    shared = open_page(url_params(page))                        # the link reopens the same search
    expect(shared.locator("#mv-status")).to_contain_text("snowy mountains & forests” · all kinds", timeout=TIMEOUT_MS)
    bad = open_page({"q": "stormy seas " * 600})                # too long: a clear message, no "Error"
    expect(bad.locator("#mv-status .mv-warn")).to_contain_text("the limit is", timeout=TIMEOUT_MS)
    assert "Error" not in bad.locator("body").inner_text()


@pytest.mark.parametrize("width,height,phone,name", [(1440, 1000, False, "screenshot-search-fold.png"),
                                                     (390, 844, True, "screenshot-search-phone.png")])
def test_results_start_above_the_fold(open_page, width, height, phone, name):
    from playwright.sync_api import expect

    page = open_page({"q": "a museum with a room of stormy seascapes and a room of flower still lifes"},
                     width, height, phone)
    card = page.locator("#mv-cards .mv-card").first
    expect(card).to_be_visible(timeout=TIMEOUT_MS)
    top = card.bounding_box()["y"]
    assert top < height - 120, top                  # at least the first card's rank and title show without scrolling
    thumb = card.locator("img.mv-thumb").first
    expect(thumb).to_be_visible()
    box = thumb.bounding_box()
    assert box["y"] + box["height"] <= height, box  # and its first room's images, on a phone too
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1   # no sideways scrolling
    shot(page, name)


def test_image_search_on_a_phone_is_one_tap_above_the_results(open_page, tmp_path):
    from playwright.sync_api import expect

    from tests.ui.test_ui_browser import _query_image

    page = open_page(None, 390, 844, phone=True)
    control = page.locator("#mv-image")
    expect(control).to_be_visible()
    box = control.bounding_box()
    assert box["height"] <= 48 and box["y"] + box["height"] < 400, box     # one line, near the query box
    expect(control.get_by_role("button", name="Paste from clipboard")).to_be_visible()   # pasting is kept too
    with page.expect_file_chooser() as chooser:      # a tap on its label opens the phone's picker
        control.get_by_text("Search by image", exact=True).tap(force=True)   # force: the label lets taps through
    chooser.value.set_files(str(_query_image(tmp_path)))
    expect(page.locator("#mv-status")).to_contain_text("your image", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-cards .mv-card").first).to_be_visible()
    expect(control.locator("img")).to_be_visible()                           # the picked image shows in the control
    assert page.evaluate("document.documentElement.scrollWidth") <= 391


def test_detail_view_shows_every_room_large_with_the_description_and_works_from_the_keyboard(open_page):
    from playwright.sync_api import expect

    page = open_page({"q": "a room of stormy seascapes"})
    card = page.locator("#mv-cards .mv-card").first
    expect(card).to_be_visible(timeout=TIMEOUT_MS)
    title = card.locator(".mv-title-btn")
    name = title.inner_text()
    title.focus()
    page.keyboard.press("Enter")                                  # the title opens it from the keyboard
    dialog = page.locator("#mv-detail .mv-detail[role=dialog]")
    expect(dialog).to_be_visible(timeout=TIMEOUT_MS)
    expect(dialog.locator("#mv-detail-title")).to_have_text(name)
    expect(dialog.locator(".mv-detail-close")).to_be_focused()
    rooms = dialog.locator(".mv-detail-room")
    assert rooms.count() >= 2 and rooms.count() == dialog.locator(".mv-detail-par").count()
    assert len(dialog.locator(".mv-detail-intro").inner_text()) > 20            # the description's intro
    img = dialog.locator("img.mv-detail-img").first
    expect(img).to_be_visible()
    assert img.evaluate("i => i.decode().then(() => i.naturalWidth)") >= 256    # large, not the 64 px thumbnail
    assert img.bounding_box()["width"] >= 140
    assert dialog.locator("img.mv-detail-img").count() >= rooms.count() * 2     # every image, not four a room
    shot(page, "screenshot-detail.png")
    page.keyboard.press("Tab")                                                  # Tab stays inside the dialog
    assert page.evaluate("document.activeElement.closest('.mv-detail') !== null")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(title).to_be_focused()                                               # focus back where it was
    card.locator(".mv-details-btn").click()                                     # "Details" opens it too
    expect(dialog).to_be_visible(timeout=TIMEOUT_MS)
    key = img.get_attribute("data-key")
    img.focus()
    page.keyboard.press("Enter")                                                # an image searches like a thumbnail
    expect(dialog).to_be_hidden()
    mid, room, image = key.rsplit("/", 2)
    expect(page.locator("#mv-status")).to_contain_text(f"more like image {image} of room {room} of {mid}",
                                                       timeout=TIMEOUT_MS)


def test_thumbnails_answer_the_keyboard(open_page):
    from playwright.sync_api import expect

    page = open_page({"q": "snowy mountains"})
    thumb = page.locator("#mv-cards img.mv-thumb[data-key]").first
    expect(thumb).to_be_visible(timeout=TIMEOUT_MS)
    assert thumb.get_attribute("tabindex") == "0"
    key = thumb.get_attribute("data-key")
    thumb.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#mv-active img")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator("#mv-active img").get_attribute("src").endswith(f"{key}.png")
    assert "q" not in url_params(page) or not url_params(page)["q"]             # an image query leaves no ?q=


def test_long_reading_folds_and_room_matches_show_every_part(open_page):
    from playwright.sync_api import expect

    page = open_page({"q": "sepia dunes pastel mountains grey ruins night cities starry skies"})
    reading = page.locator("#mv-cards .mv-card").first.locator(".mv-reading-fold")
    expect(reading).to_be_visible(timeout=TIMEOUT_MS)
    every = reading.locator(".mv-reading-all")
    expect(every).to_be_hidden()
    summary = reading.locator("summary")
    assert summary.bounding_box()["height"] < 60                                # the first lines only
    expect(summary).to_contain_text("show all")
    summary.click()
    expect(every).to_be_visible()
    assert every.locator("li").count() >= 3
    parts = page.locator("#mv-matches .mv-part")                                # one group per span read
    assert parts.count() >= 3, parts.count()
    for i in range(parts.count()):
        expect(parts.nth(i).locator(".mv-match").first).to_be_visible()
    shot(page, "screenshot-reading-fold.png")

    page = open_page({"q": "a room of stormy seascapes and a room of flower still lifes"})
    parts = page.locator("#mv-matches .mv-part")
    expect(parts.nth(1)).to_be_visible(timeout=TIMEOUT_MS)
    assert parts.count() == 2
    head = parts.nth(1).locator(".mv-part-head").bounding_box()
    assert head["y"] < 1000, head                                 # the second part's rooms show without scrolling


def test_paging_scrolls_to_the_first_new_card(open_page):
    from playwright.sync_api import expect

    from tests.ui.test_ui_browser import open_options

    page = open_page({"q": "forest"})
    expect(page.locator("#mv-status")).to_contain_text("forest", timeout=TIMEOUT_MS)
    open_options(page)
    slider = page.locator("#mv-k input[type=number]")
    slider.fill("30")
    slider.press("Enter")
    expect(page.locator("#mv-status")).to_contain_text("page 1 of 3", timeout=TIMEOUT_MS)
    page.locator("#mv-next").scroll_into_view_if_needed()
    page.click("#mv-next")
    first = page.locator("#mv-cards .mv-rank").first
    expect(first).to_have_text("#11", timeout=TIMEOUT_MS)
    page.wait_for_function("() => { const c = document.querySelector('#mv-cards .mv-card');"
                           " const y = c.getBoundingClientRect().top; return y >= -2 && y < 120; }")


def test_kind_intent_chip_says_what_was_read_and_undoes_it(open_page):
    import inspect

    from playwright.sync_api import expect

    from backend.service import SearchService

    if "kind_intent" not in inspect.signature(SearchService.search).parameters:
        pytest.skip("this backend reads no kind intent yet")
    page = open_page({"q": "a game with snowy mountains"})
    chip = page.locator("#mv-status .mv-intent")
    expect(chip).to_contain_text("Gaming worlds only — you wrote “game”", timeout=TIMEOUT_MS)
    assert not page.locator("#mv-cards .mv-badge-museum").count()
    shot(page, "screenshot-intent.png")
    chip.get_by_role("button", name="Show all kinds").click()
    expect(chip).to_contain_text("Showing all kinds", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-status")).to_contain_text("all kinds")
    page.wait_for_function("() => new URL(location.href).searchParams.get('intent') === 'off'")
    shared = open_page(url_params(page))                       # the link keeps the choice
    expect(shared.locator("#mv-status .mv-intent")).to_contain_text("Showing all kinds", timeout=TIMEOUT_MS)
    chip.get_by_role("button", name="Gaming worlds only").click()
    expect(chip).to_contain_text("you wrote “game”", timeout=TIMEOUT_MS)
    search(page, "snowy mountains")                            # a query naming no kind: no chip
    expect(page.locator("#mv-status")).to_contain_text("“snowy mountains”", timeout=TIMEOUT_MS)
    expect(chip).to_have_count(0)
