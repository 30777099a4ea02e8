"""What a crowd-platform study needs (issue 18): the config's promise (tasks of each kind) is what every participant
gets and the consent text must say the same; entry by a platform's participant id resumes, never duplicates;
participants see each result's rooms as images, without titles when the study hides them; a practice task with
known answers; planted attention checks flagged per participant; time on task; a closing question; a completion
code at the end."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from backend.study.config import assign_tasks, load_study, study_from_dict
from backend.study.store import StudyStore
from tests.conftest import REPO

DEMO = REPO / "studies" / "demo-study.yaml"


def _cfg(**over) -> dict:
    d = {"name": "crowd", "consent": "You do 2 tasks: 1 judge task and 1 describe task.", "k": 5,
         "tasks_per_participant": {"judge": 1, "describe": 1}, "overlap": 1, "seed": 3,
         "tasks": [{"id": "j1", "type": "judge", "query": "stormy seascapes"},
                   {"id": "j2", "type": "judge", "query": "a racing game"},
                   {"id": "d1", "type": "describe", "target": "museum-0003"}]}
    d.update(over)
    return d


def test_every_participant_gets_the_promised_mix():
    cfg = load_study(DEMO)
    assert cfg.per_kind == {"judge": 3, "describe": 1} and cfg.promise() == "4 tasks: 3 judge, 1 describe"
    kinds = {t.id: t.type for t in cfg.tasks}
    for i in range(40):
        got = Counter(kinds[t] for t in assign_tasks(cfg, i))
        assert got == Counter({"judge": 3, "describe": 1}), (i, got)
    counts = Counter(t for i in range(cfg.participants_needed) for t in assign_tasks(cfg, i))
    assert min(counts.values()) >= cfg.overlap                                  # complete at participants_needed


@pytest.mark.parametrize("consent,fragment", [
    ("For three tasks you will first look at one world.", "'three tasks'"),
    ("You do 5 search tasks.", "'5 search tasks'"),
])
def test_a_consent_that_promises_another_count_refuses_to_load(consent, fragment):
    with pytest.raises(ValueError, match=f"the consent text says {fragment} but each participant gets 2 tasks: "
                                         f"1 judge, 1 describe"):
        study_from_dict(_cfg(consent=consent))
    assert study_from_dict(_cfg(consent="A practice task, then one task of each kind: 2 tasks.")).per_kind


def test_a_count_that_does_not_split_by_kind_is_refused_with_an_example():
    with pytest.raises(ValueError, match=r"does not split into whole tasks of each kind .* e\.g\. \{judge: 1, "):
        study_from_dict(_cfg(tasks_per_participant=2, consent="ok"))
    with pytest.raises(ValueError, match=r"tasks_per_participant\.judge = 3 is not allowed: an integer in 0\.\.2"):
        study_from_dict(_cfg(tasks_per_participant={"judge": 3}, consent="ok"))
    with pytest.raises(ValueError, match=r"names kind\(s\) \['rank'\]"):
        study_from_dict(_cfg(tasks_per_participant={"rank": 1}, consent="ok"))


@pytest.mark.parametrize("over,fragment", [
    ({"completion_code": "has space"}, "completion_code"),
    ({"completion_url": "javascript:alert(1)"}, "completion_url"),
    ({"completion_url": 'https://x.example/"><script>'}, "completion_url"),
    ({"show_titles": "no"}, "show_titles"),
    ({"practice": {"query": "q", "items": [{"id": "museum-0001", "grade": 7}]}}, "a grade in 0..3"),
    ({"practice": {"query": "q", "items": []}}, "give 1-10 items"),
    ({"attention_checks": [{"task": "d1", "metaverse": "game-0002"}]}, "is not a judge task"),
    ({"attention_checks": [{"task": "j1", "metaverse": "game-0002", "expect": "maybe"}]}, "expect = 'maybe'"),
    ({"attention_checks": [{"task": "j1", "metaverse": "game-0002", "position": 9}]}, "past the list"),
    ({"questions": [{"id": "q 1", "text": "?"}]}, "question id 'q 1'"),
])
def test_bad_crowd_settings_are_named(over, fragment):
    with pytest.raises(ValueError, match=fragment):
        study_from_dict(_cfg(**over))


def test_ids_the_config_names_must_be_in_the_collection(tmp_path):
    import yaml
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(_cfg(attention_checks=[{"task": "j1", "metaverse": "museum-9999"}])))
    with pytest.raises(ValueError, match=r"museum-9999 \(attention check in 'j1'\) are not metaverses"):
        load_study(p, metaverse_ids={"museum-0003"})


def test_an_external_id_makes_one_participant_even_when_two_first_visits_race(tmp_path):
    store = StudyStore(tmp_path / "s.sqlite3")
    got = []
    threads = [threading.Thread(target=lambda: got.append(store.new_participant("crowd", external_id="PROLIFIC_5f3a")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({pid for pid, _ in got}) == 1 and sum(code is not None for _, code in got) == 1
    assert [p["external_id"] for p in store.participants("crowd")] == ["PROLIFIC_5f3a"]
    with pytest.raises(ValueError, match="from the link is not allowed"):
        store.new_participant("crowd", external_id="<b>x</b>")
    assert len(store.participants("crowd")) == 1


@pytest.fixture()
def session(service, tmp_path):
    from backend.study.session import StudyLimits, StudySession
    ids = [m.id for m in service.collection.metaverses]
    museums = [i for i in ids if i.startswith("museum")]
    games = [i for i in ids if i.startswith("game")]
    config = study_from_dict(_cfg(
        tasks=[{"id": "j1", "type": "judge", "query": "stormy seascapes"},
               {"id": "d1", "type": "describe", "target": museums[3]}],
        show_titles=False, completion_code="CODE-42", completion_url="https://example.org/done?cc=CODE-42",
        practice={"query": "a racing game", "items": [{"id": games[0], "grade": 3, "why": "racing"},
                                                      {"id": museums[0], "grade": 0, "why": "a museum"}]},
        attention_checks=[{"task": "j1", "metaverse": games[1], "expect": "irrelevant", "position": 2}],
        questions=[{"id": "unclear", "text": "Anything unclear?"}]))
    limits = StudyLimits(start_burst=2, start_per_min=0.01)
    return StudySession(service, StudyStore(tmp_path / "s.sqlite3"), config, limits)


def test_a_crowd_participant_from_link_to_completion_code(session, service):
    with pytest.raises(ValueError, match="This link is for study 'other'"):
        session.enter("other", "EXT1", client="1.2.3.4")
    first = session.enter("crowd", "EXT1", client="1.2.3.4")
    again = session.enter("crowd", "EXT1", client="1.2.3.4")
    assert first["code"] and again["code"] is None and again["returning"]
    assert again["participant_id"] == first["participant_id"] and len(session.store.participants("crowd")) == 1
    for _ in range(5):                                   # a return is no new start: the limit (2) is not spent
        session.enter("crowd", "EXT1", client="1.2.3.4")
    pid = first["participant_id"]
    assert first["practice"] and not first["complete"]
    # the practice: answers only once every item is graded, and nothing stored as a judgement
    practice = session.practice_view()
    assert all(i["title"] is None and i["rooms"][0]["images"][0].startswith("/thumbs/") for i in practice["items"])
    a, b = (i["id"] for i in practice["items"])
    assert not session.grade_practice(pid, {a: 1})["all_graded"]
    with pytest.raises(ValueError, match="not a result of the practice"):
        session.grade_practice(pid, {"museum-0000x": 1})
    res = session.grade_practice(pid, {a: 1, b: 0})
    assert res["all_graded"] and [(i["given"], i["expected"]) for i in res["items"]] == [(1, 3), (0, 0)]
    assert session.store.judgements("crowd") == [] and not session.progress(pid)["practice"]
    # the tasks: rooms as image strips, no titles; the attention check planted at #2 of the judge list
    for task in session.progress(pid)["assigned"]:
        view = session.task_view(pid, task)
        if view["task"]["type"] == "describe":
            t = view["target"]
            assert t["title"] is None and all(r["title"] is None for r in t["rooms"])
            assert t["rooms"][0]["images"] and t["intro"]
            session.write_query(pid, task, "a museum of seas")
            view = session.task_view(pid, task)
        else:
            assert view["items"][1]["id"] == session.config.attention_checks[0].metaverse
        assert all(i["title"] is None and i["rooms"] and "paragraph" in i["rooms"][0] for i in view["items"])
        assert "check" not in str(view) and "team" not in str(view)             # blinded
        for n, item in enumerate(view["items"]):
            session.judge(pid, task, item["id"], 3 if n == 1 and task == "j1" else 0)   # fails the check
    prog = session.progress(pid)
    assert prog["next"] is None and prog["question"]["id"] == "unclear" and not prog["complete"]
    with pytest.raises(ValueError, match="not one of this study's questions"):
        session.answer(pid, "other", "x")
    session.answer(pid, "unclear", "")
    prog = session.progress(pid)
    assert prog["complete"] and prog["completion"] == {"code": "CODE-42", "url": "https://example.org/done?cc=CODE-42"}
    from backend.study.exports import qrels
    from backend.study.filters import NONE
    from backend.study.report import study_report
    assert session.config.attention_checks[0].metaverse not in qrels(session.store.judgements("crowd"),
                                                                      session.config).get("j1", {})
    rep = study_report(session.store, session.config, flt=NONE)
    row = rep["participant_table"][0]
    assert row["external_id"] == "EXT1" and row["tasks_done"] == row["tasks_assigned"] == 2 and row["practice_done"]
    assert row["checks"] == {"passed": 0, "failed": 1, "pending": 0} and row["flagged"]
    assert row["time_on_tasks_s"] is not None and row["time_on_tasks_s"] >= 0
    assert rep["attention_checks"] == {"planted": 1, "participants_flagged": 1}
    from backend.study.exports import check_grant, export_file, sign_export
    from backend.study.filters import ParticipantFilter
    strict = ParticipantFilter(min_tasks_done=0, min_median_gap_s=0, drop_failed_checks=True)
    dropped = study_report(session.store, session.config, flt=strict)
    assert dropped["participants_kept"] == 0 and dropped["participants_dropped"]["failed_check"] == 1
    assert export_file(session.store, session.config, "qrels.txt", flt=strict) == ""
    assert check_grant(sign_export("crowd", "qrels.txt", strict), "crowd", "qrels.txt") == strict
    import csv
    import io
    people = list(csv.DictReader(io.StringIO(export_file(session.store, session.config, "participants.csv",
                                                         flt=NONE))))
    assert [(p["external_id"], p["tasks_done"], p["checks_failed"], p["flagged"]) for p in people] == [
        ("EXT1", "2", "1", "True")] and float(people[0]["time_on_tasks_s"]) >= 0
    answers = list(csv.DictReader(io.StringIO(export_file(session.store, session.config, "answers.csv", flt=NONE))))
    assert [(a["question_id"], a["text"]) for a in answers] == [("unclear", "")]
    assert export_file(session.store, session.config, "participants.csv", flt=strict).count("\n") == 1   # header
    assert rep["interleaving"]["lists_counted"] + rep["interleaving"]["excluded_partial"] >= 1


def test_study_simulate_flags_the_careless_and_no_attentive_participant(tmp_path):
    from backend.study.simulate import simulate, summary
    res = simulate(participants=20, seed=1, careless_share=0.3, tasks=16, per_participant=4, overlap=2,
                   db=tmp_path / "sim.sqlite3")
    flags = summary(res)["attention_checks"]
    assert flags["careless"] >= 2 and flags["careless_flagged"] >= 1 and flags["attentive_flagged"] == 0, flags
    assert res["pytrec_eval"]["condensed"]["max_abs_diff"] <= 1e-9     # planted checks stay out of the figures
