"""A participant's way through a study, as plain data for the Study tab and its API: start or resume with a code,
see a task's blinded (team-draft interleaved) results, grade them, write queries for describe tasks."""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from typing import Optional

from backend.api.ratelimit import RateLimiter
from backend.paths import REPO
from backend.study.config import StudyConfig, assign_tasks, load_study
from backend.study.errors import NotAllowedError, NotReadyError, RateLimitedError, UnknownError
from backend.study.interleave import team_draft
from backend.study.store import StudyStore

START_BURST_ENV = "METAVERSE_STUDY_START_BURST"       # new participants one client may start at once
START_PER_MIN_ENV = "METAVERSE_STUDY_START_PER_MIN"   # ...and then per minute


@dataclass(frozen=True)
class StudyLimits:
    """Per-client limits on the study's unauthenticated writes. Starts: a class behind one address may all join
    at once (burst), a script may not mint hundreds (300 took 5.4 s before). Wrong resume codes: a few typos
    are fine; guessing is slowed to two a minute (a code has ~59 bits)."""
    start_burst: int = 30
    start_per_min: float = 6.0
    resume_failures_burst: int = 10
    resume_failures_per_min: float = 2.0
    max_clients: int = 10_000

    @classmethod
    def from_env(cls) -> "StudyLimits":
        """Defaults, with the start limit from $METAVERSE_STUDY_START_BURST / $METAVERSE_STUDY_START_PER_MIN (a
        load test raises them; a study run in one room behind one address may too)."""
        out = cls()
        burst, per_min = os.environ.get(START_BURST_ENV), os.environ.get(START_PER_MIN_ENV)
        try:
            return cls(start_burst=int(burst) if burst else out.start_burst,
                       start_per_min=float(per_min) if per_min else out.start_per_min)
        except ValueError:
            raise ValueError(f"${START_BURST_ENV} = {burst!r} / ${START_PER_MIN_ENV} = {per_min!r}: give an "
                             f"integer >= 1 and a number > 0") from None


def _wait(seconds: float) -> str:
    s = max(1, math.ceil(seconds))
    return f"{s} s" if s < 120 else f"{math.ceil(s / 60)} min"


class StudySession:
    """One study over the search service and the judgement store. Participants only ever see their own data and
    never which ranker produced an item."""

    def __init__(self, service, store: StudyStore, config: StudyConfig, limits: Optional[StudyLimits] = None):
        missing = set(config.rankers) - set(service.rankers())
        if missing:
            raise ValueError(f"study {config.name!r} compares {sorted(missing)}, which this bundle does not serve")
        self.service = service
        self.store = store
        self.config = config
        self.limits = limits or StudyLimits.from_env()
        self._starts = RateLimiter(self.limits.start_per_min / 60, self.limits.start_burst, self.limits.max_clients)
        self._resume_failures = RateLimiter(self.limits.resume_failures_per_min / 60,
                                            self.limits.resume_failures_burst, self.limits.max_clients)

    @property
    def study(self) -> str:
        return self.config.name

    def metaverse_ids(self) -> set[str]:
        """The ids of the collection served now (exports refuse any other)."""
        return {m.id for m in self.service.collection.metaverses}

    def start(self, client: Optional[str] = None) -> dict:
        """A new anonymous participant: id, resume code (shown once), assigned tasks. `client` (who asks, e.g. an
        address; None for an in-process caller) is rate limited: RateLimitedError past StudyLimits' starts."""
        self._allow_start(client)
        pid, code = self.store.new_participant(self.study, assign=lambda i: assign_tasks(self.config, i))
        return {**self.progress(pid), "code": code}

    def _allow_start(self, client: Optional[str]) -> None:
        if client is not None and not self._starts.allow(client):
            wait = self._starts.retry_after(client)
            raise RateLimitedError(f"Too many new participants from your network just now; try again in "
                                   f"{_wait(wait)}, or continue with your resume code.", wait)

    def enter(self, study: str, external_id: str, client: Optional[str] = None) -> dict:
        """Entry by a crowd platform's link (?study=<name>&pid=<their participant id>): the participant who entered
        with that id before, resumed (never a second one), else a new participant that stores the id. A new entry
        counts against the client's start limit; a return does not. {..progress, "code": resume code or None,
        "returning": bool}."""
        if study != self.study:
            raise UnknownError(f"This link is for study {str(study)[:80]!r}, but this server runs study "
                               f"{self.study!r}; check the link you were given.")
        if self.store.participant_by_external(self.study, external_id) is None:
            self._allow_start(client)
        pid, code = self.store.new_participant(self.study, assign=lambda i: assign_tasks(self.config, i),
                                               external_id=external_id)
        return {**self.progress(pid), "code": code, "returning": code is None}

    def resume(self, code: str, client: Optional[str] = None) -> dict:
        """The progress of the participant a resume code belongs to (UnknownError if none). A client's wrong codes
        are rate limited (RateLimitedError), so codes cannot be guessed quickly."""
        if client is not None and (wait := self._resume_failures.retry_after(client)) > 0:
            raise RateLimitedError(f"Too many wrong resume codes from your network; try again in {_wait(wait)}.",
                                   wait)
        p = self.store.participant_by_code(self.study, code)
        if p is None:
            if client is not None:
                self._resume_failures.allow(client)
            raise UnknownError("That resume code is not known for this study; check it, or start again.")
        return self.progress(p["participant_id"])

    def progress(self, participant_id: str) -> dict:
        """{participant_id, assigned, tasks, done, total, next, practice, question, complete, completion}: `next` is
        the first unfinished task (None: all done); `practice` True while the study's practice waits; `question` the
        first closing question not yet answered (once every task is done); with `complete`, `completion` holds the
        study's completion code and URL (either may be None)."""
        prog = self.store.progress(self.study, participant_id)
        states = prog["tasks"]
        nxt = next((t for t in prog["assigned"] if not states.get(t, {}).get("done")), None)
        me = self.store.participant(self.study, participant_id) or {}
        practice = self.config.practice is not None and not me.get("practice_done_at")
        question = None
        if nxt is None:
            answered = self.store.participant_answers(self.study, participant_id)
            question = next(({"id": q.id, "text": q.text} for q in self.config.questions if q.id not in answered),
                            None)
        complete = nxt is None and question is None
        out = {**prog, "participant_id": participant_id, "next": nxt, "practice": practice, "question": question,
               "complete": complete}
        if complete:
            out["completion"] = {"code": self.config.completion_code, "url": self.config.completion_url}
        return out

    # --- what a participant sees: each result's rooms as image strips, its description on demand ---------------

    def item_view(self, metaverse_id: str) -> dict:
        """A metaverse as a participant sees it: rooms with their images' thumbnail URLs and paragraphs, the intro;
        titles (the metaverse's and its rooms') only when the study shows titles."""
        from backend.search.results import thumb_url
        col = self.service.collection
        m = col.metaverses[col.metaverse_row(metaverse_id)]
        titles = self.config.show_titles
        rooms = []
        for r in m.rooms:
            n = r.index + 1
            paragraph = m.paragraphs[n] if n < len(m.paragraphs) else ""
            rooms.append({"number": n, "title": r.title if titles else None, "paragraph": paragraph,
                          "images": [thumb_url(f"{m.id}/{n}/{i + 1}") if ref else None
                                     for i, ref in enumerate(r.images)]})
        return {"id": m.id, "kind": m.kind, "title": m.title if titles else None,
                "intro": m.paragraphs[0] if m.paragraphs else "", "rooms": rooms}

    def practice_view(self) -> dict:
        """The practice task: its query and results (answers withheld until grade_practice)."""
        p = self.config.practice
        if p is None:
            raise NotAllowedError("This study has no practice task.")
        return {"task": {"id": "_practice", "type": "practice", "instructions": p.prompt, "query": p.query},
                "query": p.query, "items": [self.item_view(i.id) for i in p.items], "grades": {}}

    def grade_practice(self, participant_id: str, grades: dict) -> dict:
        """Compare the practice grades with the known answers: {items: [{id, given, expected, why}], all_graded}.
        Once every item is graded the practice counts as done. The grades themselves are not stored."""
        p = self.config.practice
        if p is None:
            raise NotAllowedError("This study has no practice task.")
        if self.store.participant(self.study, participant_id) is None:
            raise UnknownError(f"unknown participant {participant_id!r:.80} in study {self.study!r}")
        lo, hi = self.config.scale.min, self.config.scale.max
        known = {i.id for i in p.items}
        for mid, g in grades.items():
            if mid not in known:
                raise NotAllowedError(f"metaverse {mid!r:.80} is not a result of the practice task")
            if not isinstance(g, int) or isinstance(g, bool) or not lo <= g <= hi:
                raise ValueError(f"grade = {g!r} is not allowed: an integer in {lo}..{hi}")
        complete = all(i.id in grades for i in p.items)
        if complete:
            self.store.practice_done(self.study, participant_id)
        return {"all_graded": complete, "items": [{"id": i.id, "given": grades.get(i.id), "expected": i.grade,
                                                   "why": i.why} for i in p.items]}

    def answer(self, participant_id: str, question_id: str, text: str) -> dict:
        """Store the answer to a closing question ('' to leave it unanswered); only the study's own questions."""
        if question_id not in {q.id for q in self.config.questions}:
            raise UnknownError(f"question {question_id!r:.80} is not one of this study's questions")
        if not isinstance(text, str):
            raise ValueError("Give the answer as text (an empty text leaves it unanswered).")
        return self.store.record_answer(self.study, participant_id, question_id, text.strip() and text)

    def _query_text(self, participant_id: str, task_id: str) -> Optional[str]:
        task = self.config.task(task_id)
        if task.type == "judge":
            return task.query
        return self.store.participant_query(self.study, participant_id, task_id)

    def task_view(self, participant_id: str, task_id: str) -> dict:
        """The task and, once there is a query, its blinded list (interleaved once, then stored and shown the same
        on every visit), with the participant's own grades so far."""
        task = self.config.task(task_id)
        self._check_assigned(participant_id, task_id)   # before any search: an unknown id costs no ranking
        view: dict = {"task": {"id": task.id, "type": task.type, "instructions": task.instructions,
                               "query": task.query}, "items": [], "grades": {}}
        view["opened_at"] = self.store.task_opened(self.study, participant_id, task_id)
        if task.type == "describe":
            view["target"] = self.item_view(task.target)
        text = self._query_text(participant_id, task_id)
        if text is None:
            return view
        shown = self.store.shown_list(self.study, participant_id, task_id)
        if shown is None:
            a_name, b_name = self.config.rankers
            a = [h["id"] for h in self.service.search(text=text, k=self.config.k, ranker=a_name)["results"]]
            b = [h["id"] for h in self.service.search(text=text, k=self.config.k, ranker=b_name)["results"]]
            seed = int(hashlib.sha256(f"{self.config.seed}/{participant_id}/{task_id}".encode()).hexdigest()[:8], 16)
            il = team_draft(a, b, self.config.k, seed, names=(a_name, b_name))
            ids, teams = list(il.ids), list(il.teams)
            check = self.config.check_for(task_id)
            if check is not None and check.metaverse not in ids:   # planted once, where the config says
                at = min(check.position - 1, len(ids))
                ids.insert(at, check.metaverse)
                teams.insert(at, "check")
            shown = self.store.record_shown(self.study, participant_id, task_id, ids, teams,
                                            {"a": a_name, "b": b_name}, original={a_name: a, b_name: b})
        view["query"] = text
        view["items"] = [self.item_view(i) for i in shown["ids"]]
        view["grades"] = {j["metaverse_id"]: j["grade"] for j in self.store.participant_judgements(self.study,
                                                                                                   participant_id)
                          if j["task_id"] == task_id and j["room"] == -1}
        return view

    def _check_assigned(self, participant_id: str, task_id: str) -> None:
        p = self.store.participant(self.study, participant_id)
        if p is None:
            raise UnknownError(f"unknown participant {participant_id!r:.80} in study {self.study!r}")
        if p["assigned"] and task_id not in p["assigned"]:
            raise NotAllowedError(f"task {task_id!r:.80} is not one of your tasks")

    def judge(self, participant_id: str, task_id: str, metaverse_id: str, grade: int, room: int = -1) -> dict:
        """Store one grade, only for a metaverse of the list this participant was shown for this task, and only a
        grade of the study's scale (ValueError and its subclasses in backend.study.errors otherwise)."""
        self.config.task(task_id)
        if room != -1 and not self.config.room_judgements:
            raise ValueError("This study does not collect room-level judgements.")
        return self.store.record_judgement(self.study, participant_id, task_id, metaverse_id, grade, room=room,
                                           grade_min=self.config.scale.min, grade_max=self.config.scale.max)

    def write_query(self, participant_id: str, task_id: str, text: str) -> dict:
        if self.config.task(task_id).type != "describe":
            raise NotAllowedError(f"Task {task_id!r} has a fixed query; only describe tasks take one from you.")
        self._check_assigned(participant_id, task_id)
        if self.store.shown_list(self.study, participant_id, task_id) is not None:
            raise NotReadyError("Your query for this task is recorded and its results are shown; grade them.")
        row = self.store.record_query(self.study, participant_id, task_id, text)
        # The participant grades the results of their own query: recording the list now keeps the task open (a
        # task with a shown list is done only when every item is graded) instead of counting it done on the query.
        self.task_view(participant_id, task_id)
        return row


DEFAULT_STUDY = REPO / "studies" / "demo-study.yaml"


def default_session(service) -> Optional[StudySession]:
    """The study the app runs: $METAVERSE_STUDY (a config path; "off" for none) or studies/demo-study.yaml, stored in
    $METAVERSE_STUDY_DB or data/studies.sqlite3. None when switched off."""
    where = os.environ.get("METAVERSE_STUDY", str(DEFAULT_STUDY))
    if where.strip().lower() in ("", "off", "none"):
        return None
    ids = {m.id for m in service.collection.metaverses}
    return StudySession(service, StudyStore(), load_study(where, metaverse_ids=ids))
