"""The study's REST routes against the running app (`python app.py`, over HTTP): every refusal is a 4xx with a JSON
message and stores nothing; starts are rate limited per client; the report filters participants; exports need the
token or a signed link that expires, escape spreadsheet formulas and refuse ids outside the collection."""
from __future__ import annotations

import csv
import io
import os
import sqlite3

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.browser  # starts the real app (no browser needed, but as slow)

BURST = 6
S = "demo-study"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from backend.ops.app_process import running_app
    tmp = tmp_path_factory.mktemp("study-http")
    env = {"METAVERSE_STUDY_DB": str(tmp / "s.sqlite3"), "METAVERSE_STUDY_START_BURST": str(BURST),
           "METAVERSE_STUDY_START_PER_MIN": "0.01"}
    with running_app(REPO / "precomputed", log_path=tmp / "app.log", env=env) as running:
        yield running, tmp / "s.sqlite3"


@pytest.fixture(scope="module")
def http(app):
    import httpx
    with httpx.Client(base_url=app[0].url.rstrip("/") + "/api/v1/study/", timeout=120) as c:
        yield c


def _error(r, status: int, fragment: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json") and fragment in r.json()["error"], r.text
    assert r.headers.get("x-content-type-options") == "nosniff"                 # the app's security headers too


@pytest.fixture(scope="module")
def participant(http):
    """A participant with a judge task whose list was shown: (participant, task, shown ids)."""
    p = http.post("participants").json()
    task = next(t for t in p["assigned"] if not t.startswith("describe"))
    items = [i["id"] for i in http.get(f"participants/{p['participant_id']}/tasks/{task}").json()["items"]]
    return p, task, items


def _rows(db) -> list:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT participant_id, task_id, metaverse_id, grade FROM judgements").fetchall()


def test_a_grade_for_what_was_shown_is_stored(http, participant, app):
    p, task, items = participant
    r = http.put(f"participants/{p['participant_id']}/tasks/{task}/grades/{items[0]}", json={"grade": 3})
    assert r.status_code == 200 and r.json()["grade"] == 3 and "ranker_team" not in r.json()
    assert (p["participant_id"], task, items[0], 3) in _rows(app[1])


@pytest.mark.parametrize("mid, body, status, message", [
    ("museum-0000", {"grade": 2}, 403, "was not shown"),                            # in the collection, not shown
    ('=HYPERLINK("http://evil.example","x")', {"grade": 2}, 403, "was not shown"),  # not in the collection
    (None, {"grade": 4}, 400, "grade = 4 is not allowed: an integer in 0..3"),
    (None, {"grade": -1}, 400, "grade = -1"),
    (None, {"grade": 2.5}, 400, "grade = 2.5"),
    (None, {"grade": "2"}, 400, "grade = '2'"),
    (None, {}, 400, "grade = None"),
])
def test_bad_grades_are_4xx_with_a_message_and_store_nothing(http, participant, app, mid, body, status, message):
    p, task, items = participant
    if mid == "museum-0000" and mid in items:
        mid = next(f"museum-{n:04d}" for n in range(100) if f"museum-{n:04d}" not in items)
    before = _rows(app[1])
    r = http.put(f"participants/{p['participant_id']}/tasks/{task}/grades/{mid or items[1]}", json=body)
    _error(r, status, message)
    assert _rows(app[1]) == before


def test_malformed_requests_are_4xx(http, participant):
    p, task, items = participant
    pid = p["participant_id"]
    grade_url = f"participants/{pid}/tasks/{task}/grades/{items[1]}"
    _error(http.put(grade_url, content=b'{"grade": NaN}'), 400, "NaN")
    _error(http.put(grade_url, content=b'{"grade": 1e400}'), 400, "grade = inf")
    _error(http.put(grade_url, content=b"[1]"), 400, "JSON object")
    _error(http.put(grade_url, content=b"{" * 9000), 400, "larger than")
    _error(http.put(f"participants/p0000000000000000/tasks/{task}/grades/{items[1]}", json={"grade": 1}), 404,
           "unknown participant")
    _error(http.get(f"participants/{pid}/tasks/no-such-task"), 404, "unknown task")
    other = next(t for t in ("seas-and-portraits", "pastel-harbours", "sepia-ruins-night-city", "sunset-flowers",
                             "space-then-underwater", "snowy-racing") if t not in p["assigned"])
    _error(http.get(f"participants/{pid}/tasks/{other}"), 403, "not one of your tasks")
    _error(http.put(f"participants/{pid}/tasks/{other}/grades/{items[1]}", json={"grade": 1}), 403,
           "not assigned")


def test_a_describe_task_takes_plain_text_and_grades_only_after_its_query(http, app):
    from backend.study.config import assign_tasks, load_study
    config = load_study(REPO / "studies" / "demo-study.yaml")
    with sqlite3.connect(app[1]) as con:
        seq = con.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM participants").fetchone()[0]
    assert any(t.startswith("describe") for t in assign_tasks(config, seq) + assign_tasks(config, seq + 1))
    for _ in range(2):
        p = http.post("participants").json()
        task = next((t for t in p["assigned"] if t.startswith("describe")), None)
        if task:
            break
    pid = p["participant_id"]
    _error(http.put(f"participants/{pid}/tasks/{task}/grades/museum-0003", json={"grade": 2}), 409,
           "no results yet")
    for bad in ("seas\ud800", "seas\x00", "seas\x1b[2J"):
        r = http.put(f"participants/{pid}/tasks/{task}/query",
                     content=('{"text": "%s"}' % bad.encode("unicode_escape").decode().replace("\\x", "\\u00"))
                     .encode())
        _error(r, 400, "lone surrogate" if "\ud800" in bad else "control character")
    assert http.put(f"participants/{pid}/tasks/{task}/query", json={"text": "=cmd|' /C calc'!A0"}).status_code == 200
    items = [i["id"] for i in http.get(f"participants/{pid}/tasks/{task}").json()["items"]]
    assert items and http.put(f"participants/{pid}/tasks/{task}/grades/{items[0]}", json={"grade": 1}).is_success
    _error(http.put(f"participants/{pid}/tasks/{task}/query", json={"text": "another"}), 409, "results are shown")


def test_wrong_resume_codes_are_refused_then_limited(http):
    for _ in range(12):                                     # StudyLimits: 10 wrong codes at once, then 2 a minute
        r = http.post("resume", json={"code": "AAAA-BBBB-CCCC"})
        if r.status_code == 429:
            break
        _error(r, 404, "resume code is not known")
    _error(r, 429, "wrong resume codes")
    assert int(r.headers["retry-after"]) >= 1


def _bearer() -> dict:
    return {"Authorization": f"Bearer {os.environ['METAVERSE_STUDY_TOKEN']}"}


def test_report_and_exports_need_the_token(http):
    _error(http.get("report"), 401, "token")
    _error(http.get("report", headers={"Authorization": "Bearer wrong"}), 401, "wrong or missing study token")
    _error(http.get("exports/judgements.csv"), 401, "token")
    r = http.get("report", headers=_bearer(), params={"min_tasks_done": 0, "min_median_gap_s": 0})
    assert r.status_code == 200 and r.json()["participants_kept"] >= 1
    _error(http.get("exports/passwd", headers=_bearer()), 404, "no export named")


def test_export_links_need_a_fresh_signature(http):
    from backend.study.exports import sign_export
    from backend.study.filters import NONE
    good = sign_export(S, "qrels.txt", NONE)
    assert http.get(f"exports/{good}/qrels.txt").status_code == 200
    _error(http.get(f"exports/{good}/judgements.csv"), 403, "not valid")                 # signed for another file
    _error(http.get(f"exports/{sign_export(S, 'qrels.txt', NONE, ttl_s=-1)}/qrels.txt"), 403, "expired")
    _error(http.get(f"exports/{good[:-4]}0000/qrels.txt"), 403, "not valid")
    _error(http.get(f"exports/{sign_export(S, 'qrels.txt', NONE, token='old-token')}/qrels.txt"), 403, "not valid")


def test_exports_escape_formulas_and_refuse_forged_ids(http, app):
    with sqlite3.connect(app[1]) as con:          # a forged row from before the checks: the exports must refuse it
        con.execute("INSERT INTO participants (study, participant_id, seq, code_sha256, assigned, created_at) "
                    "VALUES (?, 'p-forger', 9999, 'h', '[]', '2026-01-01T00:00:00Z')", (S,))
        con.execute("INSERT INTO judgements VALUES (?, 'p-forger', 'seas-and-portraits', '=HYPERLINK(\"http://e\")', "
                    "-1, 3, 'a', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", (S,))
    everyone = {"min_tasks_done": 0, "min_median_gap_s": 0}
    rep = http.get("report", headers=_bearer(), params=everyone).json()
    assert rep["participants_dropped"]["unknown_ids"] == 1 and rep["judgements_refused"] == 1
    for name in ("judgements.csv", "judgements.jsonl", "qrels.txt"):
        r = http.get(f"exports/{name}", headers=_bearer(), params=everyone)
        assert r.status_code == 200 and "HYPERLINK" not in r.text and "p-forger" not in r.text, name
        assert r.headers["cache-control"] == "no-store" and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(http.get("exports/judgements.csv", headers=_bearer(), params=everyone)
                                           .text)))
    assert rows and all(r["study"] == S for r in rows)
    queries = http.get("exports/user-queries.csv", headers=_bearer(), params=everyone).text
    assert "'=cmd|" in queries and "\n=cmd" not in queries and ",=cmd" not in queries


def test_a_platform_link_enters_once_and_resumes_after(http, app):
    """POST enter with the platform's participant id: 201 the first time, then 200 with the same participant and
    no new resume code; a wrong study or a malformed id is a 4xx that stores nothing. The closing question takes an
    empty answer (skipped) and only the study's own question ids."""
    info = http.get(str(http.base_url).rstrip("/")).json()
    assert info["tasks_per_kind"] == {"judge": 3, "describe": 1} and info["show_titles"] is False
    first = http.post("enter", json={"study": S, "pid": "PROLIFIC_5f00aa"})
    again = http.post("enter", json={"study": S, "pid": "PROLIFIC_5f00aa"})
    assert first.status_code == 201 and first.json()["code"] and again.status_code == 200
    assert again.json()["participant_id"] == first.json()["participant_id"] and again.json()["code"] is None
    _error(http.post("enter", json={"study": "other", "pid": "X1"}), 404, "This link is for study 'other'")
    _error(http.post("enter", json={"study": S, "pid": "<script>"}), 400, "from the link is not allowed")
    _error(http.post("enter", json={"study": S}), 400, '"pid"')
    _error(http.get("practice"), 403, "no practice task")
    pid = first.json()["participant_id"]
    _error(http.put(f"participants/{pid}/answers/other", json={"text": "x"}), 404, "not one of this study's")
    assert http.put(f"participants/{pid}/answers/unclear", json={"text": ""}).json() == {"question_id": "unclear",
                                                                                           "text": ""}
    with sqlite3.connect(app[1]) as con:
        assert con.execute("SELECT COUNT(*) FROM participants WHERE external_id IS NOT NULL").fetchone()[0] == 1
    everyone = {"min_tasks_done": 0, "min_median_gap_s": 0}
    people = http.get("exports/participants.csv", headers=_bearer(), params=everyone).text
    assert people.startswith("participant_id,external_id,") and people.count("PROLIFIC_5f00aa") == 1
    assert "unclear" in http.get("exports/answers.csv", headers=_bearer(), params=everyone).text
    view = http.get(f"participants/{pid}/tasks/{first.json()['next']}").json()
    shown = view.get("target") or {}
    for item in view["items"] + ([shown] if shown else []):
        assert item["title"] is None and item["rooms"][0]["images"][0].startswith("/thumbs/")


def test_the_gradio_api_no_longer_takes_study_writes(app):
    import httpx
    url = app[0].url
    names = {d.get("api_name") for d in httpx.get(f"{url}config", timeout=60).json()["dependencies"]}
    assert not {"study_start", "study_task", "study_judge"} & names
    r = httpx.post(f"{url}gradio_api/run/study_judge", json={"data": ["p", "t", "=HYPERLINK(1)", 9]}, timeout=60)
    assert r.status_code != 200


def test_starts_are_rate_limited_per_client(http):
    """Last in the module: it spends what is left of 127.0.0.1's start burst."""
    for _ in range(BURST + 1):
        r = http.post("participants")
        if r.status_code == 429:
            break
        assert r.status_code == 201
    _error(r, 429, "Too many new participants")
    assert int(r.headers["retry-after"]) >= 1
