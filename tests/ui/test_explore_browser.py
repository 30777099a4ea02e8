"""The Explore and Recommend tabs in headless Chromium against their own app (issue 20): a metaverse added through
REST while the page is open is on the map, marked as added, and can be liked and recommended from without a reload;
screenshots at desktop size and at 390 x 844."""
from __future__ import annotations

import base64
import json
import os
import urllib.parse
import urllib.request

import pytest

from tests.conftest import REPO
from tests.ui.test_ui_browser import CHROMIUM, DOCS, TIMEOUT_MS, _skip_or_fail

pytestmark = pytest.mark.browser

ADDED_ID = "explore-added-museum"
ADDED_TITLE = "The Added Museum (map copy)"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from backend.ops.app_process import running_app
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("explore-browser")
    with running_app(REPO / "precomputed", log_path=tmp / "app.log",
                     env={"METAVERSE_ADDITIONS": str(tmp / "additions"), "METAVERSE_STUDY": "off"}) as app:
        yield app.url


def _page(browser, url, width=1440, height=1100):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#mv-query textarea")
    return page


def _shot(page, name: str) -> None:
    page.wait_for_timeout(600)   # plotly draws WebGL after its promise resolves
    page.screenshot(path=str(DOCS / name), full_page=False)


def _get(app_url, path_or_url):
    url = path_or_url if "://" in path_or_url else app_url + path_or_url.lstrip("/")
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def _add_copy(app_url) -> dict:
    """POST /api/v1/metaverses: a copy of the best hit for seascapes (its pictures and description), new id."""
    query = urllib.parse.urlencode({"q": "a room of stormy seascapes", "k": 1, "full": "true"})
    hit = json.loads(_get(app_url, f"api/v1/search?{query}"))["results"][0]
    spec = {"id": ADDED_ID, "kind": hit["kind"], "title": ADDED_TITLE,
            "paragraphs": [hit["intro"]] + [room["paragraph"] for room in hit["rooms"]],
            "rooms": [{"title": room["title"],
                       "images": [base64.b64encode(_get(app_url, img["url"])).decode() for img in room["images"]]}
                      for room in hit["rooms"]]}
    req = urllib.request.Request(app_url + "api/v1/metaverses", data=json.dumps(spec).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {os.environ['METAVERSE_ADMIN_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.status == 201 and json.loads(r.read())["searchable"]
    return hit


def _map_traces(page) -> list[dict]:
    return page.evaluate("""() => (document.querySelector('#mv-map .js-plotly-plot')?.data || [])
                             .map(t => ({name: t.name, ids: (t.customdata || []).map(c => c[0])}))""")


def test_an_added_metaverse_is_on_the_map_and_can_be_liked(browser, app_url):
    from playwright.sync_api import expect
    page = _page(browser, app_url)                       # the page is open before the metaverse exists
    original = _add_copy(app_url)
    page.get_by_role("tab", name="Explore").click()
    expect(page.locator("#mv-map-note")).to_contain_text("1 added since the build", timeout=TIMEOUT_MS)
    page.wait_for_function("() => (document.querySelector('#mv-map .js-plotly-plot')?.data || [])"
                           ".some(t => (t.name || '').startsWith('added since the build'))")
    traces = _map_traces(page)
    added = [t for t in traces if t["name"].startswith("added since the build")]
    assert len(added) == 1 and added[0]["ids"] == [ADDED_ID]
    assert any(ADDED_ID in t["ids"] for t in traces if not t["name"].startswith("added"))  # in its cluster too
    _shot(page, "screenshot-explore-added.png")

    # open it as a click on its point does, like it there, and recommend from it
    page.evaluate(f"""() => {{ window.__mvPendingPoint = {json.dumps(ADDED_ID)};
                              document.querySelector('#mv-point-btn').click(); }}""")
    heart = page.locator(f'#mv-picked button.mv-like[data-like="{ADDED_ID}"]')
    expect(heart).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#mv-picked")).to_contain_text(ADDED_TITLE)
    heart.click()
    expect(heart).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(300)
    page.get_by_role("tab", name="Recommend").click()
    expect(page.locator("#mv-liked")).to_contain_text(ADDED_ID, timeout=TIMEOUT_MS)
    page.click("#mv-rec-btn")
    expect(page.locator("#mv-rec-status")).to_contain_text("from 1 liked metaverse", timeout=TIMEOUT_MS)
    cards = page.locator("#mv-rec-results .mv-card")
    expect(cards.first).to_be_visible()
    assert page.locator("#mv-rec-seeds").inner_text().count(ADDED_TITLE) >= 1   # the added one is the seed
    assert original["title"] in page.locator("#mv-rec-results").inner_text()     # its original is most like it
    page.locator("#mv-liked input").first.focus()                                # its name reaches the choices
    expect(page.locator("#mv-liked")).to_contain_text(ADDED_TITLE)
    page.keyboard.press("Escape")
    page.locator("#mv-rec-status").scroll_into_view_if_needed()
    _shot(page, "screenshot-recommend-added.png")
    page.close()


def test_the_explore_map_at_phone_size(browser, app_url):
    from playwright.sync_api import expect
    page = _page(browser, app_url, 390, 844)
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function("() => (document.querySelector('#mv-map .js-plotly-plot')?.data || []).length > 0",
                           timeout=TIMEOUT_MS)
    expect(page.locator("#mv-map-note")).to_contain_text("clusters")
    box = page.locator("#mv-map .js-plotly-plot").bounding_box()
    assert box["width"] <= 390 and box["x"] >= 0                                     # no sideways scrolling
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 392
    page.locator("#mv-map").scroll_into_view_if_needed()
    _shot(page, "screenshot-explore-phone.png")
    page.close()


def _visible_boxes(page, selector: str) -> list[dict]:
    return page.evaluate(f"""() => [...document.querySelectorAll('#mv-map {selector}')]
        .filter(el => el.style.display !== 'none').map(el => el.getBoundingClientRect())
        .filter(r => r.width > 0).map(r => ({{l: r.left, r: r.right, t: r.top, b: r.bottom}}))""")


def _assert_no_overlap(boxes: list[dict]) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a["l"] < b["r"] - 0.5 and a["r"] > b["l"] + 0.5 and a["t"] < b["b"] - 0.5
                        and a["b"] > b["t"] + 0.5), (a, b)


def _wait_map(page, predicate: str = "d => d.length > 0") -> None:
    page.wait_for_function(f"() => ({predicate})(document.querySelector('#mv-map .js-plotly-plot')?.data || [])",
                           timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)   # afterplot: labels decluttered


@pytest.mark.parametrize("width,height,tag", [(1440, 1100, "desktop"), (390, 844, "phone")])
def test_labels_hits_and_legend_are_readable(browser, app_url, width, height, tag):
    from playwright.sync_api import expect
    page = _page(browser, app_url, width, height)
    page.fill("#mv-query textarea", "a museum with a room of stormy seascapes and a room of flower still lifes")
    page.click("#mv-search-btn")
    expect(page.locator("#mv-status")).to_contain_text("metaverses for", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Explore").click()
    _wait_map(page, "d => d.some(t => t.name === 'search hits')")
    labels = _visible_boxes(page, "g.annotation")
    hits = _visible_boxes(page, ".scatterlayer .textpoint")
    assert labels and hits
    _assert_no_overlap(labels + hits)                     # cluster labels and hit numbers never cover each other
    legend = page.evaluate("() => [...document.querySelectorAll('#mv-map .legend .traces')].map(t => t.textContent)")
    clusters = [x for x in legend if x.split(":")[0].isdigit()]
    if width >= 600:
        assert len(clusters) == 8 and any("other clusters" in x for x in legend), legend   # short: top 8 + other
    else:   # a phone: no legend stacked a screen tall; labels and hover name the clusters
        assert not legend
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 2
    page.locator("#mv-map").scroll_into_view_if_needed()
    _shot(page, f"screenshot-explore-hits-{tag}.png")

    page.locator("#mv-map-level").get_by_text("Rooms").click()     # the rooms map: density layer, labels thinned
    _wait_map(page, "d => d.some(t => t.type === 'histogram2dcontour')")
    rooms = _visible_boxes(page, "g.annotation")
    total = page.evaluate("() => document.querySelectorAll('#mv-map g.annotation').length")
    assert 0 < len(rooms) < total                          # some of the 50+ room-cluster labels were hidden
    _assert_no_overlap(rooms)
    page.locator("#mv-map").scroll_into_view_if_needed()
    _shot(page, f"screenshot-explore-rooms-{tag}.png")
    page.close()


def test_find_select_and_neighbours(browser, app_url):
    from playwright.sync_api import expect
    page = _page(browser, app_url)
    page.get_by_role("tab", name="Explore").click()
    _wait_map(page)
    page.fill("#mv-map-find textarea, #mv-map-find input", "Many Seas")
    page.press("#mv-map-find textarea, #mv-map-find input", "Enter")
    _wait_map(page, "d => d.some(t => (t.name || '').startsWith('“Many Seas”'))")
    found = page.evaluate("""() => document.querySelector('#mv-map .js-plotly-plot').data
                             .find(t => (t.name || '').startsWith('“Many Seas”')).customdata.map(c => c[1])""")
    assert found and all("many seas" in t.lower() for t in found)
    page.locator("#mv-map").scroll_into_view_if_needed()
    _shot(page, "screenshot-explore-find.png")

    # a box selection as plotly reports it: the points' customdata
    n = page.evaluate("""() => { const plot = document.querySelector('#mv-map .js-plotly-plot');
        const pts = plot.data.filter(t => t.name && t.name.startsWith('0:'))[0].customdata.slice(0, 5)
                        .map(c => ({customdata: c}));
        plot.emit('plotly_selected', {points: pts}); return pts.length; }""")
    expect(page.locator("#mv-selection")).to_contain_text(f"{n} metaverses in the selection", timeout=TIMEOUT_MS)
    assert page.locator("#mv-selection .mv-card").count() == n

    page.evaluate("""() => { window.__mvPendingPoint = 'museum-0007';
                             document.querySelector('#mv-point-btn').click(); }""")
    expect(page.locator("#mv-picked")).to_contain_text("Gallery 0007", timeout=TIMEOUT_MS)
    page.click("#mv-neighbours-btn")
    expect(page.locator("#mv-selection")).to_contain_text("Nearest to museum-0007", timeout=TIMEOUT_MS)
    _wait_map(page, "d => d.some(t => (t.name || '').startsWith('nearest neighbours'))")
    assert page.locator("#mv-selection .mv-card").count() >= 5
    page.locator("#mv-map").scroll_into_view_if_needed()
    _shot(page, "screenshot-explore-neighbours.png")
    page.close()
