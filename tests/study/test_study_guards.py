"""What the study refuses: grades for what was not shown, grades off the scale, bad text, too many starts or wrong
resume codes from one client; exports escape formulas, refuse ids outside the collection, links expire; the filter
drops forged, too fast and unfinished participants and says how many."""
from __future__ import annotations

import csv
import io

import pytest

from backend.study.errors import NotAllowedError, NotReadyError, RateLimitedError, UnknownError


@pytest.fixture()
def session(service, tmp_path):
    from backend.study.config import study_from_dict
    from backend.study.session import StudyLimits, StudySession
    from backend.study.store import StudyStore
    config = study_from_dict({
        "name": "tiny", "consent": "ok", "k": 5, "tasks_per_participant": 2, "overlap": 1, "seed": 3,
        "tasks": [{"id": "t1", "type": "judge", "query": "stormy seascapes"},
                  {"id": "t2", "type": "describe", "target": service.collection.metaverses[3].id}]})
    limits = StudyLimits(start_burst=3, start_per_min=1, resume_failures_burst=2, resume_failures_per_min=1)
    return StudySession(service, StudyStore(tmp_path / "s.sqlite3"), config, limits)


def test_a_grade_is_stored_only_for_what_was_shown_in_the_scale(session):
    p = session.start()
    pid = p["participant_id"]
    with pytest.raises(NotReadyError, match="no results yet"):                # never viewed: nothing was shown
        session.judge(pid, "t1", session.service.collection.metaverses[0].id, 2)
    with pytest.raises(NotReadyError):                                          # describe task before its query
        session.judge(pid, "t2", session.service.collection.metaverses[3].id, 2)
    shown = [i["id"] for i in session.task_view(pid, "t1")["items"]]
    other = next(m.id for m in session.service.collection.metaverses if m.id not in shown)
    for forged in (other, '=HYPERLINK("http://evil.example","x")'):
        with pytest.raises(NotAllowedError, match="was not shown"):
            session.judge(pid, "t1", forged, 2)
    for bad in (4, -1, 2.0, "2", None, True):
        with pytest.raises(ValueError, match="grade"):
            session.judge(pid, "t1", shown[0], bad)
    with pytest.raises(UnknownError):
        session.judge("p0000000000000000", "t1", shown[0], 2)
    with pytest.raises(UnknownError):
        session.task_view(pid, "t9")
    assert session.store.judgements("tiny") == []
    assert session.judge(pid, "t1", shown[0], 3)["grade"] == 3


def test_study_texts_refuse_surrogates_and_control_characters(session):
    pid = session.start()["participant_id"]
    for bad in ("sea\ud800", "sea\x00", "sea\x1b[31m", "sea\x7f"):
        with pytest.raises(ValueError, match="lone surrogate|control character"):
            session.write_query(pid, "t2", bad)
    session.write_query(pid, "t2", "a museum\nof\tseas 🌊")
    session.task_view(pid, "t2")
    with pytest.raises(NotReadyError, match="results are shown"):           # the query of a shown list is fixed
        session.write_query(pid, "t2", "something else")
    with pytest.raises(NotAllowedError, match="fixed query"):
        session.write_query(pid, "t1", "mine")


def test_starts_and_wrong_resume_codes_are_limited_per_client(session):
    codes = [session.start(client="1.2.3.4")["code"] for _ in range(3)]
    with pytest.raises(RateLimitedError, match="Too many new participants") as exc:
        session.start(client="1.2.3.4")
    assert 0 < exc.value.retry_after <= 60
    session.start(client="5.6.7.8")                                            # another client is not held up
    session.start()                                                            # an in-process caller is not limited
    for _ in range(2):
        with pytest.raises(UnknownError):
            session.resume("AAAA-BBBB-CCCC", client="1.2.3.4")
    with pytest.raises(RateLimitedError, match="wrong resume codes"):
        session.resume(codes[0], client="1.2.3.4")                             # even a right one, while held
    assert session.resume(codes[0], client="9.9.9.9")["participant_id"]


def test_limits_from_the_environment(monkeypatch):
    from backend.study.session import StudyLimits
    monkeypatch.setenv("METAVERSE_STUDY_START_BURST", "500")
    monkeypatch.setenv("METAVERSE_STUDY_START_PER_MIN", "60")
    assert (StudyLimits.from_env().start_burst, StudyLimits.from_env().start_per_min) == (500, 60.0)
    monkeypatch.setenv("METAVERSE_STUDY_START_BURST", "lots")
    with pytest.raises(ValueError, match="METAVERSE_STUDY_START_BURST"):
        StudyLimits.from_env()


def test_csv_cells_that_start_a_formula_are_escaped():
    from backend.study.exports import csv_cell, queries_csv, to_csv
    row = {"study": "s", "participant_id": "p1", "task_id": "t", "metaverse_id": '=HYPERLINK("http://x","y")',
           "room": -1, "grade": 2, "ranker_team": "a", "position": 0, "created_at": "c", "updated_at": "u"}
    parsed = next(csv.DictReader(io.StringIO(to_csv([row]))))
    assert parsed["metaverse_id"] == "'=HYPERLINK(\"http://x\",\"y\")" and parsed["room"] == "-1"
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(cell) == "'" + cell
    assert csv_cell("museum-0001") == "museum-0001" and csv_cell(-1) == -1
    q = {"study": "s", "participant_id": "p1", "task_id": "t", "text": "=cmd|' /C calc'!A0", "created_at": "c",
         "updated_at": "u"}
    assert next(csv.DictReader(io.StringIO(queries_csv([q]))))["text"].startswith("'=cmd")


def test_exports_refuse_ids_outside_the_collection():
    from backend.study.exports import qrels, to_csv, to_runs
    rows = [{"study": "s", "participant_id": "p1", "task_id": "t", "metaverse_id": mid, "room": -1, "grade": 2,
             "created_at": "c", "updated_at": "u"} for mid in ("m1", "=HYPERLINK(1)", "gone")]
    known = {"m1", "m2"}
    assert qrels(rows, metaverse_ids=known) == {"t": {"m1": 2}}
    assert [r["metaverse_id"] for r in csv.DictReader(io.StringIO(to_csv(rows, known)))] == ["m1"]
    shown = [{"study": "s", "participant_id": "p1", "task_id": "t", "ids": ["m1", "gone"], "teams": ["a", "b"],
              "rankers": {"a": "x", "b": "y"}, "original": {"x": ["m1", "gone"], "y": ["gone", "m2"]},
              "created_at": "c"}]
    runs = to_runs(shown, metaverse_ids=known)
    assert runs == {"x": "t Q0 m1 1 1 x\n", "y": "t Q0 m2 1 1 y\n"}


def test_export_links_name_one_file_and_expire():
    from backend.study.exports import check_grant, sign_export
    from backend.study.filters import ParticipantFilter
    flt = ParticipantFilter(min_tasks_done=2, min_median_gap_s=1.5)
    grant = sign_export("demo", "qrels.txt", flt, ttl_s=300, token="tok", now=1000)
    assert check_grant(grant, "demo", "qrels.txt", token="tok", now=1200) == flt
    for study, name, token, now, why in (("demo", "qrels.txt", "tok", 1301, "expired"),
                                         ("demo", "judgements.csv", "tok", 1000, "not valid"),
                                         ("other", "qrels.txt", "tok", 1000, "not valid"),
                                         ("demo", "qrels.txt", "new-token", 1000, "not valid")):
        with pytest.raises(PermissionError, match=why):
            check_grant(grant, study, name, token=token, now=now)
    forged = grant.replace(".2.", ".0.", 1)                                   # a looser filter, same signature
    with pytest.raises(PermissionError, match="not valid"):
        check_grant(forged, "demo", "qrels.txt", token="tok", now=1000)
    with pytest.raises(PermissionError, match="disabled"):
        sign_export("demo", "qrels.txt", token="")


def test_the_filter_drops_forged_fast_and_unfinished_participants():
    from backend.study.filters import NONE, ParticipantFilter, select_participants

    def j(pid, mid, second):
        return {"participant_id": pid, "metaverse_id": mid, "room": -1, "created_at": f"2026-01-01T00:00:{second:02d}Z"}
    people = [{"participant_id": p} for p in ("forger", "bot", "lazy", "person")]
    judged = ([j("forger", "=HYPERLINK(1)", 0), j("forger", "m1", 9)] + [j("bot", "m1", 0), j("bot", "m2", 0)]
              + [j("lazy", "m1", 0)] + [j("person", "m1", 0), j("person", "m2", 5), j("person", "m3", 12)])
    done = {"forger": 1, "bot": 1, "lazy": 0, "person": 1}
    keep, dropped = select_participants(people, judged, done, ParticipantFilter(), metaverse_ids={"m1", "m2", "m3"})
    assert keep == {"person"} and dropped == {"unknown_ids": 1, "failed_check": 0, "too_fast": 1, "fewer_tasks_done": 1}
    keep, dropped = select_participants(people, judged, done, NONE)
    assert len(keep) == 4 and sum(dropped.values()) == 0
