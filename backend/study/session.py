"""A participant's way through a study, as plain data for the Study tab and its API: start or resume with a code,
see a task's blinded (team-draft interleaved) results, grade them, write queries for describe tasks."""
from __future__ import annotations

import hashlib
from typing import Optional

from backend.paths import REPO
from backend.study.config import StudyConfig, assign_tasks, load_study
from backend.study.interleave import team_draft
from backend.study.store import StudyStore


class StudySession:
    """One study over the search service and the judgement store. Participants only ever see their own data and
    never which ranker produced an item."""

    def __init__(self, service, store: StudyStore, config: StudyConfig):
        missing = set(config.rankers) - set(service.rankers())
        if missing:
            raise ValueError(f"study {config.name!r} compares {sorted(missing)}, which this bundle does not serve")
        self.service = service
        self.store = store
        self.config = config

    @property
    def study(self) -> str:
        return self.config.name

    def start(self) -> dict:
        """A new anonymous participant: id, resume code (shown once), assigned tasks."""
        pid, code = self.store.new_participant(self.study, assign=lambda i: assign_tasks(self.config, i))
        return {**self.progress(pid), "code": code}

    def resume(self, code: str) -> dict:
        p = self.store.participant_by_code(self.study, code)
        if p is None:
            raise ValueError("That resume code is not known for this study; check it, or start again.")
        return self.progress(p["participant_id"])

    def progress(self, participant_id: str) -> dict:
        """{participant_id, assigned, tasks, done, total, next}: `next` is the first unfinished task (None: all done)."""
        prog = self.store.progress(self.study, participant_id)
        states = prog["tasks"]
        nxt = next((t for t in prog["assigned"] if not states.get(t, {}).get("done")), None)
        return {**prog, "participant_id": participant_id, "next": nxt}

    def _query_text(self, participant_id: str, task_id: str) -> Optional[str]:
        task = self.config.task(task_id)
        if task.type == "judge":
            return task.query
        return self.store.participant_query(self.study, participant_id, task_id)

    def task_view(self, participant_id: str, task_id: str) -> dict:
        """The task and, once there is a query, its blinded list (interleaved once, then stored and shown the same
        on every visit), with the participant's own grades so far."""
        task = self.config.task(task_id)
        view: dict = {"task": {"id": task.id, "type": task.type, "instructions": task.instructions,
                               "query": task.query}, "items": [], "grades": {}}
        col = self.service.collection
        if task.type == "describe":
            m = col.metaverses[col.metaverse_row(task.target)]
            view["target"] = {"id": m.id, "title": m.title, "kind": m.kind, "rooms": [r.title for r in m.rooms],
                              "thumbs": bool(m.rooms and m.rooms[0].images and m.rooms[0].images[0])}
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
            shown = self.store.record_shown(self.study, participant_id, task_id, il.ids, il.teams,
                                            {"a": a_name, "b": b_name}, original={a_name: a, b_name: b})
        from backend.recommend.service import metaverse_info
        view["query"] = text
        view["items"] = [metaverse_info(col, col.metaverse_row(i)) for i in shown["ids"]]
        view["grades"] = {j["metaverse_id"]: j["grade"] for j in self.store.participant_judgements(self.study,
                                                                                                   participant_id)
                          if j["task_id"] == task_id and j["room"] == -1}
        return view

    def judge(self, participant_id: str, task_id: str, metaverse_id: str, grade: int, room: int = -1) -> dict:
        if room != -1 and not self.config.room_judgements:
            raise ValueError("This study does not collect room-level judgements.")
        return self.store.record_judgement(self.study, participant_id, task_id, metaverse_id, grade, room=room,
                                           grade_min=self.config.scale.min, grade_max=self.config.scale.max)

    def write_query(self, participant_id: str, task_id: str, text: str) -> dict:
        if self.config.task(task_id).type != "describe":
            raise ValueError(f"Task {task_id!r} has a fixed query; only describe tasks take one from you.")
        return self.store.record_query(self.study, participant_id, task_id, text)


DEFAULT_STUDY = REPO / "studies" / "demo-study.yaml"


def default_session(service) -> Optional[StudySession]:
    """The study the app runs: $METAVERSE_STUDY (a config path; "off" for none) or studies/demo-study.yaml, stored in
    $METAVERSE_STUDY_DB or data/studies.sqlite3. None when switched off."""
    import os
    where = os.environ.get("METAVERSE_STUDY", str(DEFAULT_STUDY))
    if where.strip().lower() in ("", "off", "none"):
        return None
    ids = {m.id for m in service.collection.metaverses}
    return StudySession(service, StudyStore(), load_study(where, metaverse_ids=ids))
