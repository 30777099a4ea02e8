"""The study through the running app: kill the server mid-task, restart it, nothing submitted is lost and the
participant resumes with their code; a short load run loses and duplicates nothing."""
from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.browser  # starts the real app (no browser needed, but as slow)


def test_kill_mid_task_restart_and_resume(tmp_path, monkeypatch):
    from backend.ops.app_process import running_app
    from backend.ops.study_load import StudyHTTP
    from backend.study.store import StudyStore
    monkeypatch.setenv("METAVERSE_STUDY_DB", str(tmp_path / "s.sqlite3"))
    with running_app(REPO / "precomputed", log_path=tmp_path / "a.log") as app:
        c = StudyHTTP(app.url)
        p = c.start()
        pid, task = p["participant_id"], p["next"]
        view = c.task(pid, task)
        if not view["items"]:                                  # a describe task: its query first
            c.write_query(pid, task, "a museum of stormy seas")
            view = c.task(pid, task)
        items = [i["id"] for i in view["items"]]
        for mid in items[:3]:
            c.grade(pid, task, mid, 2)
        os.kill(app.pid, signal.SIGKILL)                       # mid-task: 3 of the items graded
    store = StudyStore(tmp_path / "s.sqlite3")
    assert {j["metaverse_id"] for j in store.participant_judgements("demo-study", pid)} == set(items[:3])
    with running_app(REPO / "precomputed", log_path=tmp_path / "b.log") as app:
        view = StudyHTTP(app.url).task(pid, task)
        assert [i["id"] for i in view["items"]] == items         # the same blinded list as before the kill
        assert view["grades"] == {mid: 2 for mid in items[:3]}
    session_store = StudyStore(tmp_path / "s.sqlite3")
    assert session_store.participant_by_code("demo-study", p["code"])["participant_id"] == pid


def test_short_load_run_loses_and_duplicates_nothing(tmp_path):
    from backend.ops.study_load import run_study_load
    report = run_study_load(participants=6, seconds=2, min_submits=60, out=tmp_path / "load.json")  # answers, not seconds
    assert report["submits"] >= 60 and report["errors"] == 0
    assert report["lost"] == 0 and report["duplicated_rows"] == 0 and report["wrong_grade"] == 0
    assert report["unacknowledged_rows"] == 0
    assert report["thumbs_fetched"] > 0 and report["thumb_errors"] == 0          # the image strips were fetched
    assert report["link_entries"] >= 1 and report["external_ids_held_twice"] == 0 and report["link_resumes_failed"] == 0
