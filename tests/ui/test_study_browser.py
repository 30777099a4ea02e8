"""The Study tab in headless Chromium against its own app: a refused grade shows its message under the task (the
grade event skips the queue, where a toast never arrives), the "grade every result" warning clears once the task is
graded, the page's start button is rate limited per client, and the dashboard's export links work only as signed."""
from __future__ import annotations

import os

import pytest

from tests.conftest import REPO
from tests.ui.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, _skip_or_fail

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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
