"""The study store: SQLite in WAL mode with a busy timeout, a versioned schema, idempotent writes, private reads."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence

from backend.paths import DEFAULT_BUNDLE, REPO
from backend.study.config import SLUG
from backend.study.errors import NotAllowedError, NotReadyError, UnknownError

log = logging.getLogger(__name__)

DB_ENV = "METAVERSE_STUDY_DB"
DEFAULT_DB = REPO / "data" / "studies.sqlite3"
BUSY_TIMEOUT_MS = 5000
MAX_ID = 200            # characters of a participant, task or metaverse id
MAX_QUERY = 500         # characters of a participant's query
MAX_SHOWN = 200         # entries of a shown list
MAX_ROOM = 10_000
WHOLE = -1              # judgements.room for a judgement of the whole metaverse
TEAMS = ("a", "b", "both", "check")   # "check": an attention check planted by the study, no ranker's
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")   # a crowd platform's participant id (Prolific: 24 hex digits)
MAX_ANSWER = 2000       # characters of an answer to a closing question
OWN_JUDGEMENT = "task_id, metaverse_id, room, grade, position, created_at, updated_at"   # what a participant sees
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I/L: readable aloud; 31**12 ~ 2**59 codes
CODE_LEN = 12

# MIGRATIONS[v - 1] takes a database from schema v - 1 to v; PRAGMA user_version holds the version. Append only:
# never edit a released step, add one. Each step runs inside one IMMEDIATE transaction with the version bump.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # v1
        """CREATE TABLE participants (
            study TEXT NOT NULL, participant_id TEXT NOT NULL, seq INTEGER NOT NULL,
            code_sha256 TEXT NOT NULL, assigned TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL,
            PRIMARY KEY (study, participant_id), UNIQUE (study, seq), UNIQUE (study, code_sha256))""",
        """CREATE TABLE judgements (
            study TEXT NOT NULL, participant_id TEXT NOT NULL, task_id TEXT NOT NULL, metaverse_id TEXT NOT NULL,
            room INTEGER NOT NULL DEFAULT -1, grade INTEGER NOT NULL, ranker_team TEXT, position INTEGER,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (study, participant_id, task_id, metaverse_id, room))""",
        """CREATE TABLE shown_lists (
            study TEXT NOT NULL, participant_id TEXT NOT NULL, task_id TEXT NOT NULL,
            ids TEXT NOT NULL, teams TEXT NOT NULL, rankers TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (study, participant_id, task_id))""",
        """CREATE TABLE user_queries (
            study TEXT NOT NULL, participant_id TEXT NOT NULL, task_id TEXT NOT NULL, text TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (study, participant_id, task_id))""",
    ),
    (  # v2: judgements by task for the analysis; each ranker's own top-k beside the interleaved list, for exact runs
        "CREATE INDEX judgements_by_task ON judgements (study, task_id, metaverse_id)",
        "ALTER TABLE shown_lists ADD COLUMN original TEXT NOT NULL DEFAULT '{}'",
    ),
    (  # v3: entry by a crowd platform's participant id; the practice; when each task was opened; closing answers
        "ALTER TABLE participants ADD COLUMN external_id TEXT",
        "CREATE UNIQUE INDEX participants_by_external ON participants (study, external_id) "
        "WHERE external_id IS NOT NULL",
        "ALTER TABLE participants ADD COLUMN practice_done_at TEXT",
        """CREATE TABLE task_opened (
            study TEXT NOT NULL, participant_id TEXT NOT NULL, task_id TEXT NOT NULL, opened_at TEXT NOT NULL,
            PRIMARY KEY (study, participant_id, task_id))""",
        """CREATE TABLE answers (
            study TEXT NOT NULL, participant_id TEXT NOT NULL, question_id TEXT NOT NULL, text TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (study, participant_id, question_id))""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path() -> Path:
    """$METAVERSE_STUDY_DB, else data/studies.sqlite3 under the repository root (outside precomputed/)."""
    env = os.environ.get(DB_ENV)
    return Path(env) if env else DEFAULT_DB


def check_db_path(path) -> Path:
    """The resolved path; ValueError for an in-memory database or a path inside precomputed/ or the bundle."""
    if str(path) in ("", ":memory:") or str(path).startswith("file:"):
        raise ValueError(f"study database {str(path)!r} is not allowed: give a file path (the store opens one "
                         f"connection per thread, which an in-memory database cannot share)")
    p = Path(path).expanduser().resolve()
    bundle = Path(DEFAULT_BUNDLE).expanduser().resolve()
    if "precomputed" in p.parts[:-1] or p.is_relative_to(bundle):
        raise ValueError(f"study database {p} is inside a bundle directory (precomputed/ or {bundle}); the bundle is "
                         f"read-only build output: put the database elsewhere, e.g. {DEFAULT_DB} or ${DB_ENV}")
    return p


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring an open database (autocommit connection) to schema `target`; returns the version it had."""
    if conn.in_transaction:
        raise ValueError("migrate needs a connection outside a transaction")
    conn.execute("BEGIN IMMEDIATE")
    try:
        had = conn.execute("PRAGMA user_version").fetchone()[0]
        if had > SCHEMA_VERSION:
            raise ValueError(f"the study database has schema v{had}, newer than this code's v{SCHEMA_VERSION}: "
                             f"update the code, do not downgrade the database")
        for version in range(had + 1, target + 1):
            for stmt in MIGRATIONS[version - 1]:
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {int(version)}")
            log.info("study database migrated to schema v%d", version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return had


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _study(study) -> str:
    if not isinstance(study, str) or not SLUG.match(study):
        raise ValueError(f"study {study!r} is not a study name: a slug of a-z, 0-9 and '-'")
    return study


def _id(value, what: str) -> str:
    if (not isinstance(value, str) or not value or len(value) > MAX_ID
            or any(ch.isspace() or not ch.isprintable() for ch in value)):
        raise ValueError(f"{what} {value!r:.80} is not allowed: a non-empty string of at most {MAX_ID} printable "
                         f"characters without spaces")
    return value


def check_text(value, what: str, max_len: int, lines: bool = True) -> str:
    """`value` if it is non-blank text of at most max_len characters with no lone surrogate and no control character
    (newline and tab allowed when `lines`); else ValueError naming the first bad character."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValueError(f"{what} {value!r:.80} is not allowed: non-empty text of at most {max_len} characters")
    allowed = "\n\t" if lines else ""
    for at, ch in enumerate(value):
        cat = unicodedata.category(ch)
        if cat == "Cs" or (cat == "Cc" and ch not in allowed):
            kind = "a lone surrogate" if cat == "Cs" else "a control character"
            raise ValueError(f"{what} is not allowed: it holds {kind} ({ch!r} at position {at}); type plain text")
    return value


def _int(value, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{what} = {value!r} is not allowed: an integer in {lo}..{hi}")
    return value


def _code_hash(code: str) -> str:
    norm = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def new_resume_code() -> str:
    """A random code like 'K7QW-M3ZD-RT9B' (secrets; about 59 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LEN))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LEN, 4))


def done_task(shown_ids: Optional[Sequence[str]], judged: set, has_query: bool) -> bool:
    """A participant's task is done when every result shown for it has a whole-metaverse grade, or, for a task that
    showed nothing (a describe task that only collects a query), when its query is recorded."""
    if shown_ids:
        return all(i in judged for i in shown_ids)
    return has_query


class StudyStore:
    """Judgements, shown lists, participants and user queries of every study in one SQLite file.

    One connection per thread (threading.local), autocommit; each write is one BEGIN IMMEDIATE transaction, so
    writers queue on the busy timeout (5 s) instead of failing, and a killed process loses at most the transaction it
    was in. Writes are idempotent per key. Every method that takes a participant_id returns only what that
    participant may see (their own rows, no ranker teams, rankers or originals); the study-wide reads (judgements,
    shown_lists, user_queries, participants) are for the token-gated dashboard and exports. Free text is stored
    exactly as given and never interpreted.
    """

    def __init__(self, path=None):
        self.path = check_db_path(path if path is not None else default_db_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        try:
            had = migrate(self._conn())
        except BaseException:
            self.close()
            raise
        if had != SCHEMA_VERSION:
            log.info("study database %s: schema v%d -> v%d", self.path, had, SCHEMA_VERSION)

    # --- connections -------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            conn.close()
            raise ValueError(f"study database {self.path}: the file system refused WAL mode (got {mode!r}); "
                             f"put the database on a local disk")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise ValueError(f"study store {self.path} is closed")
        if os.getpid() != self._pid:    # a forked child must not reuse its parent's connections
            self._local, self._conns, self._pid = threading.local(), [], os.getpid()
            self._write_lock = threading.Lock()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Writers of this process line up on a lock first: SQLite's busy handler retries
        by sleeping, which under dozens of threads let one writer starve past the busy timeout ("database is
        locked", seen once in 900 back-to-back submits); the busy timeout still orders writers across processes."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")   # one snapshot for every SELECT inside
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            conns, self._conns, self._closed = self._conns, [], True
        for conn in conns:
            conn.close()

    def __enter__(self) -> "StudyStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    # --- participants ------------------------------------------------------------------------------------------

    def new_participant(self, study: str, assign: Optional[Callable[[int], Sequence[str]]] = None,
                        external_id: Optional[str] = None) -> tuple[str, Optional[str]]:
        """(participant_id, resume_code) of a new anonymous participant. `assign(seq)` gets the participant's 0-based
        number within the study (taken in the same transaction, so concurrent joins get distinct numbers) and returns
        the task ids to assign, e.g. `lambda i: assign_tasks(config, i)`. Only a hash of the code is stored.
        With external_id (a crowd platform's participant id): the participant already entered with it, if any, as
        (participant_id, None) — looked up in the same transaction, so two first visits at once make one participant."""
        study = _study(study)
        if external_id is not None and (not isinstance(external_id, str) or not EXTERNAL_ID.match(external_id)):
            raise ValueError(f"participant id {external_id!r:.80} from the link is not allowed: 1-64 of A-Z, a-z, "
                             f"0-9, '.', '_', '-'")
        for _ in range(3):
            pid, code = "p" + secrets.token_hex(8), new_resume_code()
            try:
                with self._write() as c:
                    if external_id is not None:
                        had = c.execute("SELECT participant_id FROM participants WHERE study = ? AND external_id = ?",
                                        (study, external_id)).fetchone()
                        if had:
                            return had["participant_id"], None
                    seq = c.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM participants WHERE study = ?",
                                    (study,)).fetchone()[0]
                    assigned = [_id(t, "assigned task id") for t in (assign(seq) if assign else [])]
                    c.execute("INSERT INTO participants (study, participant_id, seq, code_sha256, assigned, created_at,"
                              " external_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (study, pid, seq, _code_hash(code), json.dumps(assigned), _now(), external_id))
                return pid, code
            except sqlite3.IntegrityError:  # a random id or code collided: draw again
                continue
        raise RuntimeError("could not draw a unique participant id and code in 3 tries")

    def participant_by_external(self, study: str, external_id: str) -> Optional[dict]:
        """The participant who entered with this crowd-platform id, or None."""
        if not isinstance(external_id, str) or not EXTERNAL_ID.match(external_id):
            return None
        row = self._conn().execute("SELECT * FROM participants WHERE study = ? AND external_id = ?",
                                   (_study(study), external_id)).fetchone()
        return self._participant_row(row) if row else None

    @staticmethod
    def _participant_row(row: sqlite3.Row) -> dict:
        return {"participant_id": row["participant_id"], "seq": row["seq"], "assigned": json.loads(row["assigned"]),
                "created_at": row["created_at"], "external_id": row["external_id"],
                "practice_done_at": row["practice_done_at"]}

    def practice_done(self, study: str, participant_id: str) -> None:
        """Mark the practice as done (the first time wins; its grades are not stored)."""
        study, pid = _study(study), _id(participant_id, "participant id")
        with self._write() as c:
            n = c.execute("UPDATE participants SET practice_done_at = COALESCE(practice_done_at, ?) WHERE study = ? "
                          "AND participant_id = ?", (_now(), study, pid)).rowcount
        if not n:
            raise UnknownError(f"unknown participant {pid!r} in study {study!r}")

    def task_opened(self, study: str, participant_id: str, task_id: str) -> str:
        """Record when the participant first opened a task (later visits keep the first time); returns it."""
        study, pid, task = _study(study), _id(participant_id, "participant id"), _id(task_id, "task id")
        row = self._conn().execute("SELECT opened_at FROM task_opened WHERE study = ? AND participant_id = ? AND "
                                   "task_id = ?", (study, pid, task)).fetchone()
        if row:                      # the usual case reads only: a visit is not a write
            return row["opened_at"]
        with self._write() as c:
            self._assigned(c, study, pid, task)
            c.execute("INSERT INTO task_opened (study, participant_id, task_id, opened_at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT DO NOTHING", (study, pid, task, _now()))
            row = c.execute("SELECT opened_at FROM task_opened WHERE study = ? AND participant_id = ? AND "
                            "task_id = ?", (study, pid, task)).fetchone()
        return row["opened_at"]

    def task_times(self, study: str) -> list[dict]:
        """Per (participant, task): opened_at, and last_grade_at (the latest whole-metaverse grade's first time)."""
        study = _study(study)
        with self._read() as c:
            opened = {(r["participant_id"], r["task_id"]): r["opened_at"] for r in
                      c.execute("SELECT * FROM task_opened WHERE study = ?", (study,))}
            last = {(r["participant_id"], r["task_id"]): r["t"] for r in c.execute(
                "SELECT participant_id, task_id, MAX(created_at) AS t FROM judgements WHERE study = ? AND room = -1 "
                "GROUP BY participant_id, task_id", (study,))}
        return [{"participant_id": p, "task_id": t, "opened_at": o, "last_grade_at": last.get((p, t))}
                for (p, t), o in sorted(opened.items())]

    def record_answer(self, study: str, participant_id: str, question_id: str, text: str) -> dict:
        """Upsert a participant's answer to a closing question ('' when they chose not to answer)."""
        study, pid, qid = _study(study), _id(participant_id, "participant id"), _id(question_id, "question id")
        if text != "":
            text = check_text(text, "answer", MAX_ANSWER)
        now = _now()
        with self._write() as c:
            if c.execute("SELECT 1 FROM participants WHERE study = ? AND participant_id = ?",
                         (study, pid)).fetchone() is None:
                raise UnknownError(f"unknown participant {pid!r} in study {study!r}")
            c.execute("INSERT INTO answers (study, participant_id, question_id, text, created_at, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (study, participant_id, question_id) "
                      "DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
                      (study, pid, qid, text, now, now))
        return {"question_id": qid, "text": text}

    def participant_answers(self, study: str, participant_id: str) -> dict[str, str]:
        rows = self._conn().execute("SELECT question_id, text FROM answers WHERE study = ? AND participant_id = ?",
                                    (_study(study), _id(participant_id, "participant id")))
        return {r["question_id"]: r["text"] for r in rows}

    def answers(self, study: str) -> list[dict]:
        """Every closing answer (for the researcher; gate with the token)."""
        rows = self._conn().execute("SELECT * FROM answers WHERE study = ? ORDER BY question_id, participant_id",
                                    (_study(study),))
        return [dict(r) for r in rows]

    def participant(self, study: str, participant_id: str) -> Optional[dict]:
        """{participant_id, seq, assigned, created_at}, or None for an unknown participant."""
        row = self._conn().execute("SELECT * FROM participants WHERE study = ? AND participant_id = ?",
                                   (_study(study), _id(participant_id, "participant id"))).fetchone()
        return self._participant_row(row) if row else None

    def participant_by_code(self, study: str, code: str) -> Optional[dict]:
        """The participant a resume code belongs to (case, spaces and hyphens ignored), or None."""
        if not isinstance(code, str) or not 1 <= len(code) <= 64:
            return None
        row = self._conn().execute("SELECT * FROM participants WHERE study = ? AND code_sha256 = ?",
                                   (_study(study), _code_hash(code))).fetchone()
        return self._participant_row(row) if row else None

    def participants(self, study: str) -> list[dict]:
        rows = self._conn().execute("SELECT * FROM participants WHERE study = ? ORDER BY seq", (_study(study),))
        return [self._participant_row(r) for r in rows]

    def _assigned(self, c: sqlite3.Connection, study: str, participant_id: str, task_id: str) -> None:
        row = c.execute("SELECT assigned FROM participants WHERE study = ? AND participant_id = ?",
                        (study, participant_id)).fetchone()
        if row is None:
            raise UnknownError(f"unknown participant {participant_id!r} in study {study!r}")
        assigned = json.loads(row["assigned"])
        if assigned and task_id not in assigned:
            raise NotAllowedError(f"task {task_id!r} is not assigned to participant {participant_id!r}; "
                                  f"assigned: {assigned}")

    # --- writes ------------------------------------------------------------------------------------------------

    def record_shown(self, study: str, participant_id: str, task_id: str, ids: Sequence[str], teams: Sequence[str],
                     rankers: Mapping[str, str], original: Optional[Mapping[str, Sequence[str]]] = None) -> dict:
        """Record the list a participant was shown for a task: `ids` in shown order, each one's team ("a", "b" or
        "both"), which ranker each team is ({"a": "hicalm", "b": "baseline"}), and each ranker's own top-k
        (`original`, for exact run files). Idempotent: the first list recorded wins and is returned, so a reload
        shows the participant the same list. Returns the blinded view (ids, created_at), as shown_list does."""
        study, pid, task = _study(study), _id(participant_id, "participant id"), _id(task_id, "task id")
        ids, teams = list(ids), list(teams)
        if not 1 <= len(ids) <= MAX_SHOWN:
            raise ValueError(f"shown list of {len(ids)} ids is not allowed: 1..{MAX_SHOWN}")
        for i in ids:
            _id(i, "metaverse id")
        if len(set(ids)) != len(ids):
            raise ValueError(f"shown list {ids} repeats an id")
        if len(teams) != len(ids) or any(t not in TEAMS for t in teams):
            raise ValueError(f"teams {teams} must give one of {list(TEAMS)} for each of the {len(ids)} ids")
        rankers = dict(rankers)
        if not rankers or set(rankers) - {"a", "b"}:
            raise ValueError(f"rankers {rankers} must map team 'a' (and 'b') to a ranker name")
        for name in rankers.values():
            _id(name, "ranker name")
        if any(t not in ("both", "check") and t not in rankers for t in teams):
            raise ValueError(f"teams {teams} name a team missing from rankers {rankers}")
        original = {str(r): list(v) for r, v in (original or {}).items()}
        for r, v in original.items():
            if r not in rankers.values() or len(v) > MAX_SHOWN:
                raise ValueError(f"original[{r!r}] is not allowed: keys are the rankers {list(rankers.values())}, "
                                 f"each a list of at most {MAX_SHOWN} ids")
            for i in v:
                _id(i, f"original[{r!r}] id")
        with self._write() as c:
            self._assigned(c, study, pid, task)
            c.execute("INSERT INTO shown_lists (study, participant_id, task_id, ids, teams, rankers, original, "
                      "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                      (study, pid, task, json.dumps(ids), json.dumps(teams), json.dumps(rankers),
                       json.dumps(original), _now()))
            row = c.execute("SELECT ids, created_at FROM shown_lists WHERE study = ? AND participant_id = ? AND "
                            "task_id = ?", (study, pid, task)).fetchone()
        return {"ids": json.loads(row["ids"]), "created_at": row["created_at"]}

    def record_judgement(self, study: str, participant_id: str, task_id: str, metaverse_id: str, grade: int, *,
                         room: int = WHOLE, team: Optional[str] = None, position: Optional[int] = None,
                         grade_min: int = 0, grade_max: int = 3) -> dict:
        """Upsert one grade for (study, participant, task, metaverse, room); room -1 is the whole metaverse. The same
        key again updates the grade and updated_at, never adds a row. Only what the participant was shown is graded:
        the task's shown list must be recorded (NotReadyError) and hold the metaverse (NotAllowedError); the team and
        position come from it. Returns the participant's view of the stored row (no team)."""
        study, pid, task = _study(study), _id(participant_id, "participant id"), _id(task_id, "task id")
        mid = _id(metaverse_id, "metaverse id")
        grade = _int(grade, "grade", grade_min, grade_max)
        room = _int(room, "room", WHOLE, MAX_ROOM)
        if team is not None and team not in TEAMS:
            raise ValueError(f"team {team!r} is not one of {list(TEAMS)}")
        if position is not None:
            _int(position, "position", 0, MAX_SHOWN)
        now = _now()
        with self._write() as c:
            self._assigned(c, study, pid, task)
            shown = c.execute("SELECT ids, teams FROM shown_lists WHERE study = ? AND participant_id = ? AND "
                              "task_id = ?", (study, pid, task)).fetchone()
            if shown is None:
                raise NotReadyError(f"task {task!r} has shown participant {pid!r} no results yet: open the task "
                                    f"(and, for a describe task, write its query) before grading")
            ids, teams = json.loads(shown["ids"]), json.loads(shown["teams"])
            if mid not in ids:
                raise NotAllowedError(f"metaverse {mid!r} was not shown to participant {pid!r} for task {task!r}; "
                                      f"only the results shown can be graded")
            at = ids.index(mid)
            if (team is not None and team != teams[at]) or (position is not None and position != at):
                raise ValueError(f"team {team!r} / position {position!r} disagree with the shown list "
                                 f"({teams[at]!r} at {at})")
            team, position = teams[at], at
            c.execute("INSERT INTO judgements (study, participant_id, task_id, metaverse_id, room, grade, ranker_team,"
                      " position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (study, participant_id, task_id, metaverse_id, room) "
                      "DO UPDATE SET grade = excluded.grade, updated_at = excluded.updated_at",
                      (study, pid, task, mid, room, grade, team, position, now, now))
            row = c.execute(f"SELECT {OWN_JUDGEMENT} FROM judgements WHERE study = ? AND participant_id = ? AND "
                            "task_id = ? AND metaverse_id = ? AND room = ?", (study, pid, task, mid, room)).fetchone()
        return dict(row)

    def record_query(self, study: str, participant_id: str, task_id: str, text: str) -> dict:
        """Upsert the query a participant wrote for a task (at most 500 characters, no control characters but
        newline and tab, no lone surrogates), stored exactly as given."""
        study, pid, task = _study(study), _id(participant_id, "participant id"), _id(task_id, "task id")
        text = check_text(text, "query", MAX_QUERY)
        now = _now()
        with self._write() as c:
            self._assigned(c, study, pid, task)
            c.execute("INSERT INTO user_queries (study, participant_id, task_id, text, created_at, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (study, participant_id, task_id) "
                      "DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
                      (study, pid, task, text, now, now))
            row = c.execute("SELECT * FROM user_queries WHERE study = ? AND participant_id = ? AND task_id = ?",
                            (study, pid, task)).fetchone()
        return dict(row)

    # --- reads -------------------------------------------------------------------------------------------------

    @staticmethod
    def _shown_row(row: sqlite3.Row) -> dict:
        d = dict(row)
        for key in ("ids", "teams", "rankers", "original"):
            d[key] = json.loads(d[key])
        return d

    def shown_list(self, study: str, participant_id: str, task_id: str) -> Optional[dict]:
        """The participant's own shown list for a task, blinded (ids and created_at; no teams, rankers or
        originals), or None when none is recorded."""
        row = self._conn().execute("SELECT ids, created_at FROM shown_lists WHERE study = ? AND participant_id = ? "
                                   "AND task_id = ?", (_study(study), _id(participant_id, "participant id"),
                                                       _id(task_id, "task id"))).fetchone()
        return {"ids": json.loads(row["ids"]), "created_at": row["created_at"]} if row else None

    def participant_judgements(self, study: str, participant_id: str) -> list[dict]:
        """Only this participant's own judgements, without the hidden ranker team."""
        rows = self._conn().execute(
            f"SELECT {OWN_JUDGEMENT} FROM judgements WHERE study = ? AND participant_id = ? "
            "ORDER BY task_id, position, metaverse_id, room",
            (_study(study), _id(participant_id, "participant id")))
        return [dict(r) for r in rows]

    def participant_query(self, study: str, participant_id: str, task_id: str) -> Optional[str]:
        row = self._conn().execute("SELECT text FROM user_queries WHERE study = ? AND participant_id = ? AND "
                                   "task_id = ?", (_study(study), _id(participant_id, "participant id"),
                                                   _id(task_id, "task id"))).fetchone()
        return row["text"] if row else None

    def _task_states(self, c: sqlite3.Connection, study: str, participant_id: Optional[str] = None) -> dict:
        """{(participant, task): {"shown", "judged", "query", "done"}} over assigned and touched tasks."""
        where, args = ("study = ?", (study,)) if participant_id is None else \
            ("study = ? AND participant_id = ?", (study, participant_id))
        states: dict = {}

        def state(pid: str, task: str) -> dict:
            return states.setdefault((pid, task), {"shown": None, "judged": set(), "query": False})
        for r in c.execute(f"SELECT participant_id, assigned FROM participants WHERE {where}", args):
            for task in json.loads(r["assigned"]):
                state(r["participant_id"], task)
        for r in c.execute(f"SELECT participant_id, task_id, ids FROM shown_lists WHERE {where}", args):
            state(r["participant_id"], r["task_id"])["shown"] = json.loads(r["ids"])
        for r in c.execute(f"SELECT participant_id, task_id, metaverse_id FROM judgements WHERE {where} AND room = -1",
                           args):
            state(r["participant_id"], r["task_id"])["judged"].add(r["metaverse_id"])
        for r in c.execute(f"SELECT participant_id, task_id FROM user_queries WHERE {where}", args):
            state(r["participant_id"], r["task_id"])["query"] = True
        return {key: {"shown": len(s["shown"] or []), "judged": len(s["judged"]), "query": s["query"],
                      "done": done_task(s["shown"], s["judged"], s["query"])} for key, s in states.items()}

    def progress(self, study: str, participant_id: str) -> dict:
        """{participant_id, assigned, tasks: {task: {shown, judged, query, done}}, done, total} for one participant;
        `done` counts finished tasks (see done_task), `total` the assigned ones."""
        study, pid = _study(study), _id(participant_id, "participant id")
        with self._read() as c:
            row = c.execute("SELECT assigned FROM participants WHERE study = ? AND participant_id = ?",
                            (study, pid)).fetchone()
            if row is None:
                raise UnknownError(f"unknown participant {pid!r} in study {study!r}")
            states = self._task_states(c, study, pid)
        assigned = json.loads(row["assigned"])
        tasks = {task: s for (_, task), s in sorted(states.items())}
        return {"participant_id": pid, "assigned": assigned, "tasks": tasks,
                "done": sum(s["done"] for s in tasks.values()), "total": len(assigned) or len(tasks)}

    def task_progress(self, study: str) -> dict[str, int]:
        """{task: number of participants who finished it}, over every task assigned or touched."""
        with self._read() as c:
            states = self._task_states(c, _study(study))
        out: dict[str, int] = {}
        for (_, task), s in sorted(states.items()):
            out[task] = out.get(task, 0) + int(s["done"])
        return out

    def tasks_done(self, study: str) -> dict[str, int]:
        """{participant: number of tasks they finished}, for every participant of the study."""
        study = _study(study)
        with self._read() as c:
            states = self._task_states(c, study)
            out = {r["participant_id"]: 0 for r in c.execute("SELECT participant_id FROM participants WHERE "
                                                             "study = ?", (study,))}
        for (pid, _), s in states.items():
            out[pid] = out.get(pid, 0) + int(s["done"])
        return out

    def judgements(self, study: str) -> list[dict]:
        """Every judgement of the study with its hidden team (for the analysis and exports; gate with the token)."""
        rows = self._conn().execute("SELECT * FROM judgements WHERE study = ? ORDER BY task_id, participant_id, "
                                    "position, metaverse_id, room", (_study(study),))
        return [dict(r) for r in rows]

    def shown_lists(self, study: str) -> list[dict]:
        """Every shown list with teams, rankers and originals (for the analysis and exports; gate with the token)."""
        rows = self._conn().execute("SELECT * FROM shown_lists WHERE study = ? ORDER BY task_id, created_at, "
                                    "participant_id", (_study(study),))
        return [self._shown_row(r) for r in rows]

    def user_queries(self, study: str) -> list[dict]:
        """Every query participants wrote (for the exports; gate with the token)."""
        rows = self._conn().execute("SELECT * FROM user_queries WHERE study = ? ORDER BY task_id, created_at, "
                                    "participant_id", (_study(study),))
        return [dict(r) for r in rows]
