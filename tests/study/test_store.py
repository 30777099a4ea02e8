"""The study store and exports: idempotent writes, concurrent and killed writers, migrations, privacy, exports."""
from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import signal
import sqlite3
import threading
import time

import pytest

from backend.study.config import Task, StudyConfig, assign_tasks
from backend.study.exports import (check_token, query_id, to_csv, to_jsonl, to_qrels, to_query_set, to_runs)
from backend.study.store import (DB_ENV, DEFAULT_DB, MAX_SHOWN, MIGRATIONS, SCHEMA_VERSION, StudyStore,
                                 default_db_path, migrate)

S = "demo"


@pytest.fixture()
def store(tmp_path):
    with StudyStore(tmp_path / "studies.sqlite3") as s:
        yield s


def _show(store, pid: str, task: str, ids: list[str]) -> None:
    """Record that `pid` was shown `ids` for `task` (a grade is stored only for what was shown)."""
    store.record_shown(S, pid, task, ids, ["a"] * len(ids), {"a": "hicalm", "b": "baseline"})


def _config() -> StudyConfig:
    tasks = (Task("seas", "judge", "stormy seas"), Task("harb", "judge", "boats"),
             Task("desc", "describe", target="museum-0003"))
    return StudyConfig(name=S, consent="ok", tasks=tasks, tasks_per_participant=3, overlap=2)


def test_wal_busy_timeout_and_fresh_schema(store):
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert store.schema_version == SCHEMA_VERSION == 3
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"participants", "judgements", "shown_lists", "user_queries", "judgements_by_task"} <= names


def test_participants_are_anonymous_and_resume_by_code(store):
    cfg = _config()
    pid, code = store.new_participant(S, assign=lambda i: assign_tasks(cfg, i))
    pid2, code2 = store.new_participant(S, assign=lambda i: assign_tasks(cfg, i))
    assert pid != pid2 and code != code2 and len(code) == 14 and code.count("-") == 2
    me = store.participant_by_code(S, code.lower().replace("-", " "))
    assert me["participant_id"] == pid and me["seq"] == 0 and me["assigned"] == assign_tasks(cfg, 0)
    assert store.participant(S, pid2)["seq"] == 1
    assert store.participant_by_code(S, "AAAA-AAAA-AAAA") is None
    assert store.participant_by_code("other-study", code) is None
    assert code.encode() not in store.path.read_bytes() + store.path.with_name(store.path.name + "-wal").read_bytes()


def test_same_judgement_twice_is_one_row_with_the_new_grade(store):
    pid, _ = store.new_participant(S)
    _show(store, pid, "seas", ["museum-0001"])
    first = store.record_judgement(S, pid, "seas", "museum-0001", 1)
    time.sleep(0.002)
    second = store.record_judgement(S, pid, "seas", "museum-0001", 3)
    rows = store.judgements(S)
    assert len(rows) == 1 and rows[0]["grade"] == 3
    assert second["created_at"] == first["created_at"] and second["updated_at"] > first["updated_at"]
    store.record_judgement(S, pid, "seas", "museum-0001", 2, room=0)       # a room judgement is another key
    assert len(store.judgements(S)) == 2


def test_writes_are_validated(store):
    pid, _ = store.new_participant(S, assign=lambda i: ["seas"])
    _show(store, pid, "seas", ["museum-0001"])
    with pytest.raises(ValueError, match=r"grade = 4 is not allowed: an integer in 0..3"):
        store.record_judgement(S, pid, "seas", "museum-0001", 4)
    with pytest.raises(ValueError, match="grade = True"):
        store.record_judgement(S, pid, "seas", "museum-0001", True)
    assert store.record_judgement(S, pid, "seas", "museum-0001", 4, grade_max=4)["grade"] == 4
    with pytest.raises(ValueError, match="metaverse id ''"):
        store.record_judgement(S, pid, "seas", "", 1)
    with pytest.raises(ValueError, match="room = -2"):
        store.record_judgement(S, pid, "seas", "museum-0001", 1, room=-2)
    with pytest.raises(ValueError, match="unknown participant 'p-nobody'"):
        store.record_judgement(S, "p-nobody", "seas", "museum-0001", 1)
    with pytest.raises(ValueError, match="task 'harb' is not assigned"):
        store.record_judgement(S, pid, "harb", "museum-0001", 1)
    with pytest.raises(ValueError, match="study 'Bad Study'"):
        store.new_participant("Bad Study")
    with pytest.raises(ValueError, match="at most 500 characters"):
        store.record_query(S, pid, "seas", "x" * 501)
    with pytest.raises(ValueError, match="non-empty text"):
        store.record_query(S, pid, "seas", " \n ")
    assert store.record_query(S, pid, "seas", "y" * 500)["text"] == "y" * 500
    for bad, kind in (("a\ud800b", "lone surrogate"), ("a\x00b", "control character"),
                      ("a\x1bb", "control character"), ("a\rb", "control character")):
        with pytest.raises(ValueError, match=kind):
            store.record_query(S, pid, "seas", bad)
    assert store.record_query(S, pid, "seas", "two\nlines\tand a tab")["text"] == "two\nlines\tand a tab"


def test_only_what_was_shown_can_be_graded(store):
    from backend.study.errors import NotAllowedError, NotReadyError, UnknownError
    pid, _ = store.new_participant(S, assign=lambda i: ["seas", "desc"])
    with pytest.raises(NotReadyError, match="no results yet"):              # no list shown for the task yet
        store.record_judgement(S, pid, "seas", "museum-0001", 1)
    _show(store, pid, "seas", ["museum-0001", "museum-0002"])
    for forged in ("museum-0009", '=HYPERLINK("http://evil","x")'):
        with pytest.raises(NotAllowedError, match="was not shown"):
            store.record_judgement(S, pid, "seas", forged, 1)
    with pytest.raises(NotReadyError):                                       # another task's list does not count
        store.record_judgement(S, pid, "desc", "museum-0001", 1)
    with pytest.raises(UnknownError):
        store.record_judgement(S, "p-nobody", "seas", "museum-0001", 1)
    assert store.judgements(S) == []


def test_shown_list_first_wins_and_fixes_team_and_position(store):
    pid, _ = store.new_participant(S)
    rankers = {"a": "hicalm", "b": "baseline"}
    first = store.record_shown(S, pid, "seas", ["m1", "m2", "m3"], ["a", "b", "both"], rankers,
                               original={"hicalm": ["m1", "m3"], "baseline": ["m2", "m3"]})
    again = store.record_shown(S, pid, "seas", ["m9"], ["b"], rankers)
    assert again == first == store.shown_list(S, pid, "seas") and first["ids"] == ["m1", "m2", "m3"]
    assert set(first) == {"ids", "created_at"}                              # blinded: no teams, rankers, originals
    assert len(store.shown_lists(S)) == 1 and store.shown_lists(S)[0]["teams"] == ["a", "b", "both"]
    row = store.record_judgement(S, pid, "seas", "m2", 2)
    assert "ranker_team" not in row and row["position"] == 1
    assert store.judgements(S)[0]["ranker_team"] == "b"
    with pytest.raises(ValueError, match="'m7' was not shown"):
        store.record_judgement(S, pid, "seas", "m7", 2)
    with pytest.raises(ValueError, match="disagree with the shown list"):
        store.record_judgement(S, pid, "seas", "m2", 2, team="a")
    with pytest.raises(ValueError, match="teams"):
        store.record_shown(S, pid, "harb", ["m1", "m2"], ["a"], rankers)
    with pytest.raises(ValueError, match="repeats an id"):
        store.record_shown(S, pid, "harb", ["m1", "m1"], ["a", "b"], rankers)


def test_participants_cannot_read_each_others_judgements(store):
    p1, _ = store.new_participant(S)
    p2, _ = store.new_participant(S)
    store.record_shown(S, p1, "seas", ["m1", "m2"], ["a", "b"], {"a": "hicalm", "b": "baseline"})
    _show(store, p2, "seas", ["m1"])
    _show(store, p2, "harb", ["m5"])
    store.record_judgement(S, p1, "seas", "m1", 3)
    store.record_judgement(S, p2, "seas", "m1", 0)
    store.record_judgement(S, p2, "harb", "m5", 1)
    mine = store.participant_judgements(S, p1)
    assert [(r["task_id"], r["metaverse_id"], r["grade"]) for r in mine] == [("seas", "m1", 3)]
    assert all("ranker_team" not in r and "participant_id" not in r for r in mine)
    assert len(store.participant_judgements(S, p2)) == 2 and len(store.judgements(S)) == 3
    assert store.participant_judgements(S, "p-unknown") == []
    assert "teams" not in store.shown_list(S, p1, "seas")


def test_script_tag_comes_back_byte_identical(store):
    pid, _ = store.new_participant(S)
    text = '<script>alert("x")</script> & \'; DROP TABLE judgements;-- ünïcödé \u202e\t😀'
    store.record_query(S, pid, "desc", text)
    assert store.participant_query(S, pid, "desc").encode("utf-8") == text.encode("utf-8")
    assert store.user_queries(S)[0]["text"].encode("utf-8") == text.encode("utf-8")
    line = json.loads(to_query_set(store.user_queries(S), _config()).splitlines()[0])
    assert line["text"] == text
    assert store.judgements(S) == []                                       # the table is still there


def test_paths_inside_precomputed_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="inside a bundle directory"):
        StudyStore(tmp_path / "precomputed" / "studies.sqlite3")
    with pytest.raises(ValueError, match="give a file path"):
        StudyStore(":memory:")
    monkeypatch.delenv(DB_ENV, raising=False)
    assert default_db_path() == DEFAULT_DB and "precomputed" not in DEFAULT_DB.parts
    monkeypatch.setenv(DB_ENV, str(tmp_path / "env" / "s.sqlite3"))
    with StudyStore() as s:
        assert s.path == (tmp_path / "env" / "s.sqlite3").resolve() and s.path.exists()


def test_progress_and_task_progress(store):
    cfg = _config()
    p1, _ = store.new_participant(S, assign=lambda i: assign_tasks(cfg, i))
    p2, _ = store.new_participant(S, assign=lambda i: assign_tasks(cfg, i))
    for pid in (p1, p2):
        store.record_shown(S, pid, "seas", ["m1", "m2"], ["a", "b"], {"a": "hicalm", "b": "baseline"})
        store.record_judgement(S, pid, "seas", "m1", 1)
    store.record_judgement(S, p1, "seas", "m2", 2)
    store.record_judgement(S, p2, "seas", "m2", 2, room=1)                # a room grade does not finish the task
    store.record_query(S, p2, "desc", "grey ruins then dunes")
    prog = store.progress(S, p1)
    assert prog["total"] == 3 and prog["done"] == 1 and prog["tasks"]["seas"] == \
        {"shown": 2, "judged": 2, "query": False, "done": True}
    assert store.progress(S, p2)["done"] == 1                             # the describe task with only a query
    assert store.task_progress(S) == {"desc": 1, "harb": 0, "seas": 1}
    with pytest.raises(ValueError, match="unknown participant"):
        store.progress(S, "p-nobody")


def test_migration_from_v1_keeps_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.execute("INSERT INTO participants VALUES ('demo', 'p1', 0, 'h', '[]', 't0')")
    conn.execute("INSERT INTO shown_lists VALUES ('demo', 'p1', 'seas', '[\"m1\", \"m2\"]', '[\"a\", \"b\"]', "
                 "'{\"a\": \"hicalm\", \"b\": \"baseline\"}', 't0')")
    conn.execute("INSERT INTO judgements VALUES ('demo', 'p1', 'seas', 'm1', -1, 2, 'a', 0, 't0', 't0')")
    conn.close()
    with StudyStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.judgements(S)[0]["grade"] == 2
        shown = s.shown_lists(S)[0]
        assert shown["original"] == {} and shown["ids"] == ["m1", "m2"]
        assert to_runs([shown]) == {"baseline": "seas Q0 m2 1 1 baseline\n", "hicalm": "seas Q0 m1 1 1 hicalm\n"}
        s.record_judgement(S, "p1", "seas", "m2", 1)
        assert len(s.judgements(S)) == 2
    with StudyStore(path) as s:                                            # reopening does not migrate again
        assert s.schema_version == SCHEMA_VERSION and len(s.judgements(S)) == 2
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    StudyStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ValueError, match="schema v99, newer than this code's v3"):
        StudyStore(path)


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "busy.sqlite3"
    with StudyStore(path) as s:
        shared, _ = s.new_participant(S)
        own = [s.new_participant(S)[0] for _ in range(8)]
        _show(s, shared, "t", [f"m{n:03d}" for n in range(50)])
        for pid in own:
            _show(s, pid, "t", [f"m{n:03d}" for n in range(100)])
    store = StudyStore(path)                                               # one store, a connection per thread
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(j: int) -> None:
        try:
            start.wait()
            for i in range(200):
                if i % 2:
                    store.record_judgement(S, own[j], "t", f"m{i // 2:03d}", (i // 2) % 4)
                else:                                                      # every thread writes the same 50 keys
                    store.record_judgement(S, shared, "t", f"m{(i // 2) % 50:03d}", j % 4)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=writer, args=(j,)) for j in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert errors == []
    with StudyStore(path) as s:
        rows = s.judgements(S)
    assert len(rows) == 50 + 8 * 100
    keys = [(r["participant_id"], r["metaverse_id"]) for r in rows]
    assert len(set(keys)) == len(keys)
    for j, pid in enumerate(own):
        mine = sorted((r["metaverse_id"], r["grade"]) for r in rows if r["participant_id"] == pid)
        assert mine == [(f"m{n:03d}", n % 4) for n in range(100)]


def _write_then_die(path: str, pid: str, n: int) -> None:
    store = StudyStore(path)
    _show(store, pid, "t", [f"m{i:03d}" for i in range(n)])
    for i in range(n):
        store.record_judgement(S, pid, "t", f"m{i:03d}", i % 4)
    conn = store._conn()
    conn.execute("BEGIN IMMEDIATE")                                        # a transaction that never commits
    conn.execute("INSERT INTO judgements VALUES (?, ?, 't', 'uncommitted', -1, 1, NULL, NULL, 'x', 'x')", (S, pid))
    os._exit(0)


def _write_until_killed(path: str, pid: str, committed) -> None:
    store = StudyStore(path)
    ids = [f"m{i:05d}" for i in range(MAX_SHOWN)]
    _show(store, pid, "t", ids)
    for i, mid in enumerate(ids):
        store.record_judgement(S, pid, "t", mid, i % 4)
        committed.value = i + 1
    time.sleep(60)                                                         # killed long before


def _ctx():
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def test_a_writer_killed_midway_loses_only_its_open_transaction(tmp_path):
    path = tmp_path / "crash.sqlite3"
    with StudyStore(path) as s:
        pid, _ = s.new_participant(S)
    child = _ctx().Process(target=_write_then_die, args=(str(path), pid, 40))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    with StudyStore(path) as s:
        assert s._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r["metaverse_id"] for r in s.judgements(S)]
    assert sorted(ids) == [f"m{i:03d}" for i in range(40)]


def test_a_writer_sigkilled_keeps_every_committed_row(tmp_path):
    path = tmp_path / "kill.sqlite3"
    with StudyStore(path) as s:
        pid, _ = s.new_participant(S)
    ctx = _ctx()
    committed = ctx.Value("i", 0)
    child = ctx.Process(target=_write_until_killed, args=(str(path), pid, committed))
    child.start()
    deadline = time.monotonic() + 600   # waits for 30 commits however slow the machine; the cap only ends a hang
    while committed.value < 30 and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    at_kill = committed.value
    assert at_kill >= 30
    with StudyStore(path) as s:
        assert s._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = sorted(r["metaverse_id"] for r in s.judgements(S))
    assert at_kill <= len(ids) <= at_kill + 1                              # the row being written may have committed
    assert ids == [f"m{i:05d}" for i in range(len(ids))]


def _filled_store(store) -> tuple[StudyConfig, list[str]]:
    cfg = _config()
    pids = [store.new_participant(S, assign=lambda i: assign_tasks(cfg, i))[0] for _ in range(3)]
    rankers = {"a": "hicalm", "b": "baseline"}
    original = {"hicalm": ["m1", "m2", "m3"], "baseline": ["m3", "m4", "m1"]}
    for n, pid in enumerate(pids):
        store.record_shown(S, pid, "seas", ["m1", "m3", "m2", "m4"], ["a", "both", "a", "b"], rankers, original)
        for mid, grade in zip(["m1", "m3", "m2", "m4"], [[1, 3, 0, 2], [2, 3, 0, 2], [3, 2, 1, 0]][n]):
            store.record_judgement(S, pid, "seas", mid, grade)
        store.record_judgement(S, pid, "seas", "m1", 0, room=2)              # room grades stay out of the qrels
        store.record_query(S, pid, "desc", f"grey ruins, query {n}, with a comma")
        store.record_shown(S, pid, "desc", ["museum-0003", "m9"], ["b", "a"], {"a": "baseline", "b": "hicalm"},
                           {"hicalm": ["museum-0003"], "baseline": ["m9"]})
        store.record_judgement(S, pid, "desc", "museum-0003", 3)
    return cfg, pids


def test_exports_round_trip(store):
    cfg, pids = _filled_store(store)
    rows = store.judgements(S)
    qrels = [line.split() for line in to_qrels(rows, cfg).splitlines()]
    assert all(len(f) == 4 and f[1] == "0" and f[3].isdigit() for f in qrels)
    grades = {(q, d): int(g) for q, _, d, g in qrels}
    assert grades[("seas", "m1")] == 2 and grades[("seas", "m3")] == 3   # medians of (1,2,3) and (3,3,2)
    assert grades[("seas", "m2")] == 0 and grades[("seas", "m4")] == 2
    assert {q for q, _ in grades if q.startswith("desc.")} == {query_id("desc", p) for p in pids}
    assert to_qrels([r for r in rows if r["participant_id"] != pids[2]]).count("seas 0 m1 1") == 1  # median 1.5 -> 1

    runs = to_runs(store.shown_lists(S), cfg)
    assert set(runs) == {"hicalm", "baseline"}
    hicalm = [line.split() for line in runs["hicalm"].splitlines()]
    assert [f for f in hicalm if f[0] == "seas"] == [["seas", "Q0", "m1", "1", "3", "hicalm"],
                                                      ["seas", "Q0", "m2", "2", "2", "hicalm"],
                                                      ["seas", "Q0", "m3", "3", "1", "hicalm"]]
    assert sum(f[0].startswith("desc.") for f in hicalm) == 3

    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == len(rows) and parsed[0].keys() >= {"task_id", "metaverse_id", "grade", "ranker_team"}
    assert [json.loads(line) for line in to_jsonl(rows).splitlines()] == rows

    qs = [json.loads(line) for line in to_query_set(store.user_queries(S), cfg).splitlines()]
    assert len(qs) == 3
    for q in qs:
        assert q["type"] == "text" and q["form"] == "user" and q["rooms"] == [] and q["ordered"] is False
        assert q["target"] == "museum-0003" and q["kind"] == "museum" and q["split"] in ("dev", "test")
        assert q["id"].startswith("desc.") and q["text"].startswith("grey ruins")
    assert {q["id"] for q in qs} == {f for f, *_ in qrels if f.startswith("desc.")}
    test_split = to_query_set(store.user_queries(S), cfg, {"museum-0003": {"kind": "museum", "split": "test"}})
    assert all(json.loads(line)["split"] == "test" for line in test_split.splitlines())


def test_query_set_loads_with_the_project_loader(store, tmp_path):
    from backend.eval.queryset import load_queries
    cfg, _ = _filled_store(store)
    path = tmp_path / "user.jsonl"
    path.write_text(to_query_set(store.user_queries(S), cfg))
    assert len(load_queries(path)) == 3


def test_qrels_and_runs_parse_with_trec_eval(store, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    cfg, _ = _filled_store(store)
    (tmp_path / "qrels").write_text(to_qrels(store.judgements(S), cfg))
    (tmp_path / "run").write_text(to_runs(store.shown_lists(S), cfg)["hicalm"])
    with open(tmp_path / "qrels") as f:
        qrels = pytrec_eval.parse_qrel(f)
    with open(tmp_path / "run") as f:
        run = pytrec_eval.parse_run(f)
    assert qrels["seas"] == {"m1": 2, "m2": 0, "m3": 3, "m4": 2} and set(run) == set(qrels)
    scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut"}).evaluate(run)
    assert 0 < scores["seas"]["ndcg_cut_10"] <= 1


def test_check_token(monkeypatch):
    monkeypatch.delenv("METAVERSE_STUDY_TOKEN", raising=False)
    with pytest.raises(PermissionError, match="disabled: set METAVERSE_STUDY_TOKEN"):
        check_token("anything")
    monkeypatch.setenv("METAVERSE_STUDY_TOKEN", "s3cret-tökén")
    check_token("s3cret-tökén")
    for wrong in ("s3cret", "", None, "s3cret-tökén "):
        with pytest.raises(PermissionError, match="wrong or missing study token"):
            check_token(wrong)
    with pytest.raises(PermissionError, match="disabled"):
        check_token("x", expected="")
