"""The Study tab in headless Chromium against its own app: a refused grade shows its message under the task (the
grade event skips the queue, where a toast never arrives), the "grade every result" warning clears once the task is
graded, the page's start button is rate limited per client, and the dashboard's export links work only as signed.
With studies/crowd-study.yaml: entry by a crowd platform's link, the practice's expected grades, results as image
strips without titles, the completion code at the end, a repeat visit that resumes, and the tab at 390 x 844."""
from __future__ import annotations

import os

import pytest

from tests.conftest import REPO
from tests.ui.test_ui_browser import CHROMIUM, DOCS, TIMEOUT_MS, _skip_or_fail

pytestmark = pytest.mark.browser

BURST = 2


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from backend.ops.app_process import running_app
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("study-browser")
    env = {"METAVERSE_STUDY_DB": str(tmp / "s.sqlite3"), "METAVERSE_STUDY_START_BURST": str(BURST),
           "METAVERSE_STUDY_START_PER_MIN": "0.01"}
    with running_app(REPO / "precomputed", log_path=tmp / "app.log", env=env) as app:
        yield app.url


def _study_page(browser, url):
    page = browser.new_page(viewport={"width": 1440, "height": 1300})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("tab", name="Study").click()
    return page


def test_grades_answer_under_the_task_and_export_links_are_signed(browser, app_url):
    from playwright.sync_api import expect
    page = _study_page(browser, app_url)
    page.click("#mv-study-start")
    expect(page.locator("#mv-study-header")).to_contain_text("resume code", timeout=TIMEOUT_MS)
    query = page.locator("#mv-study-query textarea").first
    if query.is_visible():                                   # a describe task: grading before the query is refused
        page.evaluate("""() => { window.__mvPendingGrade = 'museum-0003|2';
                                 document.querySelector('#mv-grade-btn').click(); }""")
        expect(page.locator("#mv-study-status")).to_contain_text("no results yet")
        query.fill("a museum with stormy seas")
        page.click("#mv-study-query-btn")
    buttons = page.locator("#mv-study-task .mv-grades")
    expect(buttons.first).to_be_visible(timeout=TIMEOUT_MS)
    # a forged grade through the page's own event: refused, and the participant sees why
    page.evaluate("""() => { window.__mvPendingGrade = '=HYPERLINK("http://evil.example","x")|2';
                             document.querySelector('#mv-grade-btn').click(); }""")
    expect(page.locator("#mv-study-status [role=alert]")).to_contain_text("was not shown")
    page.click("#mv-study-next")
    expect(page.locator("#mv-study-status")).to_contain_text("Grade every result of this task first")
    for i in range(buttons.count()):
        buttons.nth(i).locator("[data-grade]").nth(i % 4).click()
        page.wait_for_timeout(100)
    expect(page.locator("#mv-study-status")).to_contain_text("Every result of this task is graded")
    expect(page.locator("#mv-study-status")).not_to_contain_text("Grade every result")

    page.locator("#mv-dashboard").get_by_text("Researcher dashboard").click()
    page.fill("#mv-token input", os.environ["METAVERSE_STUDY_TOKEN"])
    page.fill("#mv-min-tasks input", "0")
    page.fill("#mv-min-gap input", "0")
    page.click("#mv-dashboard-btn")
    expect(page.locator("#mv-report")).to_contain_text("counted", timeout=TIMEOUT_MS)
    link = page.locator("#mv-exports a[href$='judgements.csv']")
    expect(link).to_have_count(1)
    href = link.get_attribute("href")
    assert href.startswith("/api/v1/study/exports/")
    r = page.request.get(app_url.rstrip("/") + href)
    assert r.status == 200 and r.text().startswith("study,") and r.text().count("\n") > buttons.count()
    forged = href.replace(".0.0.", ".5.0.", 1)               # another filter under the same signature
    assert page.request.get(app_url.rstrip("/") + forged).status == 403
    assert page.request.get(app_url.rstrip("/") + "/api/v1/study/exports/judgements.csv").status == 401
    page.close()


def test_the_start_button_is_rate_limited_per_client(browser, app_url):
    """After the first test's start, 127.0.0.1 has BURST - 1 starts left; then the page says to wait."""
    from playwright.sync_api import expect
    for _ in range(BURST):
        page = _study_page(browser, app_url)
        page.click("#mv-study-start")
        page.wait_for_function("""() => /resume code/.test(document.querySelector('#mv-study-header')?.innerText || '')
                                      || /Too many/.test(document.querySelector('#mv-study-done')?.innerText || '')""",
                               timeout=TIMEOUT_MS)
        if "Too many" in page.locator("#mv-study-done").inner_text():
            break
        page.close()
    expect(page.locator("#mv-study-done [role=alert]")).to_contain_text("Too many new participants",
                                                                        timeout=TIMEOUT_MS)
    expect(page.locator("#mv-study-start")).to_be_visible()   # still on the consent form
    page.close()


CROWD = "crowd-study"


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    from backend.ops.app_process import running_app
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("crowd-browser")
    env = {"METAVERSE_STUDY_DB": str(tmp / "c.sqlite3"), "METAVERSE_STUDY": str(REPO / "studies" / f"{CROWD}.yaml")}
    with running_app(REPO / "precomputed", log_path=tmp / "app.log", env=env) as app:
        yield app.url, tmp / "c.sqlite3"


def _strips_scrolling(page) -> int:
    """How many image strips of the task are wider than their box (an image the participant would have to scroll to)."""
    return page.evaluate("""() => [...document.querySelectorAll('#mv-study-task .mv-study-strip')]
        .filter(s => s.scrollWidth > s.clientWidth + 1).length""")


def _shot(page, name: str, top: str = "") -> None:
    if top:
        page.locator(top).first.scroll_into_view_if_needed()
        page.evaluate("(sel) => document.querySelector(sel).scrollIntoView({block: 'start'})", top)
    page.wait_for_timeout(600)   # let the thumbnails decode
    page.screenshot(path=str(DOCS / name), full_page=False)


def _grade_all(page, pick) -> int:
    """Click one grade per result on screen (pick(i) -> grade) and wait until the status line says all are graded."""
    from playwright.sync_api import expect
    groups = page.locator("#mv-study-task .mv-grades")
    expect(groups.first).to_be_visible(timeout=TIMEOUT_MS)
    n = groups.count()
    for i in range(n):
        groups.nth(i).locator("[data-grade]").nth(pick(i)).click()
        page.wait_for_timeout(80)
    return n


def test_a_link_entry_practises_grades_image_strips_and_ends_with_the_completion_code(browser, crowd):
    import sqlite3

    from playwright.sync_api import expect
    url, db = crowd
    link = f"{url}?tab=study&study={CROWD}&pid=PROLIFIC_abc123"
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(link)
    # the link opens the Study tab on the practice, no consent click, no resume code to write down
    expect(page.locator("#mv-study-task")).to_contain_text("Practice", timeout=TIMEOUT_MS)
    expect(page.locator("#mv-study-status")).to_contain_text("open the same link again")
    assert page.locator("#mv-study-header code").count() == 0
    items = page.locator("#mv-study-task .mv-study-item")
    assert items.count() == 3 and page.locator("#mv-study-task .mv-title", has_text="World").count() == 0  # no titles
    expect(page.locator("#mv-study-task .mv-study-strip img").first).to_be_visible()
    page.click("#mv-study-next")                                   # before grading: asked to grade first
    expect(page.locator("#mv-study-status")).to_contain_text("Grade every practice result first")
    _grade_all(page, lambda i: 1)
    expect(page.locator("#mv-study-status")).to_contain_text("Practice graded")
    expect(page.locator("#mv-study-task .mv-study-answer")).to_have_count(3)
    expect(page.locator("#mv-study-task .mv-study-answer").first).to_contain_text("we expected 3")
    _shot(page, "screenshot-study-practice.png", "#mv-study-task h2")
    page.click("#mv-study-next")
    shots = 0
    for n in range(4):
        expect(page.locator("#mv-study-header")).to_contain_text(f"{n} of 4", timeout=TIMEOUT_MS)
        query = page.locator("#mv-study-query textarea").first
        if query.is_visible():                                     # describe: the target shown as image strips
            target = page.locator("#mv-study-task .mv-study-target")
            expect(target.locator(".mv-study-strip img").first).to_be_visible()
            query.fill("a museum with stormy seas and old ruins")
            page.click("#mv-study-query-btn")
        expect(page.locator("#mv-study-task .mv-grades").first).to_be_visible(timeout=TIMEOUT_MS)
        if shots == 0:
            img = page.locator("#mv-study-task .mv-study-item .mv-study-strip img").first
            page.wait_for_function("(el) => el.complete && el.naturalWidth === 96", arg=img.element_handle())
            zoom = page.locator("#mv-study-task .mv-study-zoom").first.get_attribute("href")
            r = page.request.get(url.rstrip("/") + zoom)
            assert zoom.endswith("?size=256") and r.status == 200 and r.headers["content-type"] == "image/png"
            page.locator("#mv-study-task .mv-study-desc summary").first.click()    # the description, on demand
            expect(page.locator("#mv-study-task .mv-study-desc[open] p").first).to_be_visible()
            _shot(page, "screenshot-study-strips.png", "#mv-study-task h2")
            assert _strips_scrolling(page) == 0     # every image of every room shows, none behind a sideways scroll
            shots += 1
        _grade_all(page, lambda i: i % 4)
        expect(page.locator("#mv-study-status")).to_contain_text("Every result of this task is graded")
        page.click("#mv-study-next")
    expect(page.locator("#mv-study-task")).to_contain_text("One last question", timeout=TIMEOUT_MS)
    page.fill("#mv-study-query textarea", "The snow and the sea looked alike in small pictures.")
    page.click("#mv-study-query-btn")
    expect(page.locator("#mv-completion-code")).to_have_text("DEMO-7Q2K", timeout=TIMEOUT_MS)
    back = page.locator("#mv-study-done a.mv-study-return")
    assert back.get_attribute("href") == "https://app.prolific.com/submissions/complete?cc=DEMO-7Q2K"
    _shot(page, "screenshot-study-complete.png")
    page.close()
    # a repeat visit of the same link resumes (at the end) and makes no second participant
    again = browser.new_page()
    again.set_default_timeout(TIMEOUT_MS)
    again.goto(link)
    expect(again.locator("#mv-completion-code")).to_have_text("DEMO-7Q2K", timeout=TIMEOUT_MS)
    expect(again.locator("#mv-study-status")).to_contain_text("Welcome back")
    again.close()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT external_id, practice_done_at IS NOT NULL FROM participants").fetchall() == [
            ("PROLIFIC_abc123", 1)]
        assert c.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 1
        assert c.execute("SELECT COUNT(*) FROM task_opened").fetchone()[0] == 4
        assert c.execute("SELECT COUNT(DISTINCT task_id) FROM judgements").fetchone()[0] == 4
    bad = browser.new_page()
    bad.goto(f"{url}?tab=study&study=another-study&pid=X1")
    expect(bad.locator("#mv-study-done [role=alert]")).to_contain_text("This link is for study 'another-study'",
                                                                       timeout=TIMEOUT_MS)
    bad.close()


def test_the_study_at_390_by_844_and_the_dashboard_there(browser, crowd):
    from playwright.sync_api import expect
    url, _ = crowd
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.set_default_timeout(TIMEOUT_MS)
        phone.goto(f"{url}?tab=study&study={CROWD}&pid=PHONE-1")
        expect(phone.locator("#mv-study-task")).to_contain_text("Practice", timeout=TIMEOUT_MS)
        _grade_all(phone, lambda i: 3 - i)
        expect(phone.locator("#mv-study-task .mv-study-answer")).to_have_count(3)
        phone.click("#mv-study-next")
        expect(phone.locator("#mv-study-header")).to_contain_text("0 of 4", timeout=TIMEOUT_MS)
        query = phone.locator("#mv-study-query textarea").first
        if query.is_visible():
            query.fill("a museum of seas")
            phone.click("#mv-study-query-btn")
        grades = phone.locator("#mv-study-task .mv-grades").first
        expect(grades).to_be_visible(timeout=TIMEOUT_MS)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1   # no sideways scrolling
        assert grades.locator("[data-grade]").first.bounding_box()["height"] >= 32  # big enough to tap
        strip = phone.locator("#mv-study-task .mv-study-item .mv-study-strip").first.bounding_box()
        assert strip["x"] >= 0 and strip["x"] + strip["width"] <= 390 + 1
        assert _strips_scrolling(phone) == 0       # every image of every room shows without scrolling the strip
        _shot(phone, "screenshot-study-390.png", "#mv-study-task .mv-study-item")
        phone.locator("#mv-dashboard").get_by_text("Researcher dashboard").click()
        phone.fill("#mv-token input", os.environ["METAVERSE_STUDY_TOKEN"])
        phone.fill("#mv-min-tasks input", "0")
        phone.fill("#mv-min-gap input", "0")
        phone.click("#mv-dashboard-btn")
        table = phone.locator("#mv-report h3", has_text="Participants")
        expect(table).to_be_visible(timeout=TIMEOUT_MS)
        expect(phone.locator("#mv-report")).to_contain_text("PHONE-1")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        _shot(phone, "screenshot-study-dashboard-390.png", "#mv-report h3:last-of-type")
    finally:
        context.close()
