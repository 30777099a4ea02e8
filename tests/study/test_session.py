"""A whole study through the service: participants start, see blinded interleaved lists, grade; the report and the
exports agree with what they did; a restart loses nothing."""
from __future__ import annotations

import pytest


@pytest.fixture()
def study(service, tmp_path):
    from backend.study.config import study_from_dict
    from backend.study.session import StudySession
    from backend.study.store import StudyStore
    target = service.collection.metaverses[3].id
    config = study_from_dict({
        "name": "tiny", "consent": "ok", "k": 5, "tasks_per_participant": {"judge": 1, "describe": 1}, "overlap": 2,
        "seed": 3,
        "tasks": [{"id": "t1", "type": "judge", "query": "stormy seascapes"},
                  {"id": "t2", "type": "judge", "query": "a racing game"},
                  {"id": "t3", "type": "describe", "target": target}]})
    db = tmp_path / "studies.sqlite3"
    return StudySession(service, StudyStore(db), config), db


def _grade(item: dict) -> int:
    return 3 if item["kind"] == "museum" else 0


def test_participants_complete_tasks_and_the_report_adds_up(study, service):
    session, db = study
    codes = []
    for _ in range(3):
        p = session.start()
        codes.append(p["code"])
        for task in p["assigned"]:
            view = session.task_view(p["participant_id"], task)
            if view["task"]["type"] == "describe":
                assert not view["items"] and view["target"]["id"]
                session.write_query(p["participant_id"], task, "<script>alert(1)</script> a museum of seas")
                view = session.task_view(p["participant_id"], task)
            assert 1 <= len(view["items"]) <= 5 and "team" not in str(view["items"])   # blinded
            again = session.task_view(p["participant_id"], task)
            assert [i["id"] for i in again["items"]] == [i["id"] for i in view["items"]]   # stored, not redrawn
            for item in view["items"]:
                session.judge(p["participant_id"], task, item["id"], _grade(item))
                session.judge(p["participant_id"], task, item["id"], _grade(item))   # idempotent
    from backend.study.exports import qrels, to_query_set
    from backend.study.filters import NONE
    from backend.study.report import study_report
    scripted = study_report(session.store, session.config)     # graded back to back: no person is that fast
    assert scripted["participants_kept"] == 0 and scripted["participants_dropped"]["too_fast"] == 3
    report = study_report(session.store, session.config, flt=NONE)
    assert report["participants"] == report["participants_kept"] == 3
    assert report["judgements"] == len(session.store.judgements("tiny"))
    assert set(report["metrics"]["rankers"]) == {"hicalm", "baseline"}
    assert sum(report["interleaving"]["wins"].values()) + report["interleaving"]["ties"] >= 1
    assert 0 <= report["interleaving"]["sign_test"]["p_value"] <= 1
    qs = to_query_set(session.store.user_queries("tiny"), session.config)
    assert "<script>alert(1)</script>" in qs                                   # stored and exported as text
    assert all(g in (0, 3) for docs in qrels(session.store.judgements("tiny"), session.config).values()
               for g in docs.values())
    # a restart: a new store on the same file finds everything, and codes resume
    from backend.study.session import StudySession
    from backend.study.store import StudyStore
    fresh = StudySession(service, StudyStore(db), session.config)
    assert len(fresh.store.judgements("tiny")) == report["judgements"]
    assert fresh.resume(codes[0])["participant_id"]
    with pytest.raises(ValueError, match="resume code is not known"):
        fresh.resume("AAAA-BBBB-CCCC")


def test_bad_input(study):
    session, _ = study
    p = session.start()
    task = p["assigned"][0]
    view = session.task_view(p["participant_id"], task)
    if view["items"]:
        with pytest.raises(ValueError):
            session.judge(p["participant_id"], task, view["items"][0]["id"], 7)
        with pytest.raises(ValueError, match="room-level"):
            session.judge(p["participant_id"], task, view["items"][0]["id"], 1, room=0)
    with pytest.raises(ValueError, match="fixed query"):
        session.write_query(p["participant_id"], "t1", "x")


def test_cli_report_and_export(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO
    env = {**os.environ, "METAVERSE_STUDY_DB": str(tmp_path / "s.sqlite3")}
    args = [sys.executable, "-m", "backend", "study"]
    common = ["--study", "demo-study", "--config", str(REPO / "studies" / "demo-study.yaml")]
    r = subprocess.run(args + ["report", *common], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["participants_needed"] == 4
    r = subprocess.run(args + ["export", *common, "--format", "csv"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("study,")
    r = subprocess.run(args + ["report", "--study", "other", *common[2:]], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "does not match" in r.stderr


def test_a_describe_task_ends_with_grading_the_results_of_the_participants_own_query(study):
    """Issue 18: after writing a query the participant grades its interleaved results; the task is not done on the
    query alone, and the grades go to the qrels under the participant's own query id."""
    session, _ = study
    p = session.start()
    pid = p["participant_id"]
    describe = next(t for t in p["assigned"] if session.config.task(t).type == "describe")
    session.write_query(pid, describe, "a museum of stormy seas")
    prog = session.progress(pid)
    assert not prog["tasks"][describe]["done"] and prog["tasks"][describe]["shown"] >= 1
    view = session.task_view(pid, describe)
    assert view["query"] == "a museum of stormy seas" and view["items"]
    for item in view["items"]:
        session.judge(pid, describe, item["id"], 2)
    assert session.progress(pid)["tasks"][describe]["done"]
    from backend.study.exports import qrels, query_id
    assert query_id(describe, pid) in qrels(session.store.judgements(session.study), session.config)
