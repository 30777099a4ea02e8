"""Which participants count in a study's numbers and exports: drop the forged, the too fast, the unfinished."""
from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Optional

log = logging.getLogger(__name__)

WHOLE = -1
REASONS = ("unknown_ids", "failed_check", "too_fast", "fewer_tasks_done")   # counted under the first that fits


@dataclass(frozen=True)
class ParticipantFilter:
    """A participant counts when none of their grades names a metaverse outside the collection (forged or since
    removed: "unknown_ids"), when the median time between two of their grades is at least `min_median_gap_s`
    (a person reads a result before grading it; a script does not: "too_fast"; fewer than 2 grades: not judged)
    and when they finished at least `min_tasks_done` tasks ("fewer_tasks_done"). With `drop_failed_checks`, a
    participant who graded a planted attention check against the obvious answer is dropped too ("failed_check").
    NONE keeps everyone."""
    min_tasks_done: int = 1
    min_median_gap_s: float = 1.0
    drop_failed_checks: bool = False

    def __post_init__(self):
        if isinstance(self.min_tasks_done, bool) or not isinstance(self.min_tasks_done, int) or \
                not 0 <= self.min_tasks_done <= 1000:
            raise ValueError(f"min_tasks_done = {self.min_tasks_done!r} is not allowed: an integer in 0..1000")
        gap = self.min_median_gap_s
        if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 <= gap <= 3600:
            raise ValueError(f"min_median_gap_s = {gap!r} is not allowed: a number of seconds in 0..3600")
        if not isinstance(self.drop_failed_checks, bool):
            raise ValueError(f"drop_failed_checks = {self.drop_failed_checks!r} is not allowed: true or false")

    def to_dict(self) -> dict:
        return {"min_tasks_done": self.min_tasks_done, "min_median_gap_s": float(self.min_median_gap_s),
                "drop_failed_checks": self.drop_failed_checks}


NONE = ParticipantFilter(min_tasks_done=0, min_median_gap_s=0)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def median_gap_s(stamps: Iterable[str]) -> Optional[float]:
    """The median of the gaps between consecutive timestamps (ISO 8601), or None with fewer than two."""
    times = sorted(_seconds(s) for s in stamps)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return statistics.median(gaps) if gaps else None


def split_known(rows: Iterable[Mapping], metaverse_ids: Optional[set], what: str = "judgements") -> tuple[list, int]:
    """(the rows whose metaverse_id is in the collection, how many were refused); all rows when ids is None."""
    rows = list(rows)
    if metaverse_ids is None:
        return rows, 0
    kept = [r for r in rows if r["metaverse_id"] in metaverse_ids]
    if len(kept) != len(rows):
        log.warning("%d %s refused: their metaverse id is not in the collection", len(rows) - len(kept), what)
    return kept, len(rows) - len(kept)


def attention_checks(shown_lists: Iterable[Mapping], judgements: Iterable[Mapping], config) -> dict[str, dict]:
    """{participant: {"passed", "failed", "pending"}} over the attention checks planted in their lists (team
    "check"): passed or failed by the config's rule (AttentionCheck.passed), pending while not graded."""
    grades = {(r["participant_id"], r["task_id"], r["metaverse_id"]): r["grade"] for r in judgements
              if r["room"] == WHOLE and r.get("ranker_team") == "check"}
    out: dict[str, dict] = {}
    for s in shown_lists:
        for mid, team in zip(s["ids"], s["teams"]):
            if team != "check":
                continue
            c = out.setdefault(s["participant_id"], {"passed": 0, "failed": 0, "pending": 0})
            check = config.check_for(s["task_id"])
            g = grades.get((s["participant_id"], s["task_id"], mid))
            if g is None or check is None:
                c["pending"] += 1
            else:
                c["passed" if check.passed(g, config.scale) else "failed"] += 1
    return out


def select_participants(participants: Iterable[Mapping], judgements: Iterable[Mapping],
                        progress: Mapping[str, int], flt: ParticipantFilter = ParticipantFilter(),
                        metaverse_ids: Optional[set] = None,
                        failed_checks: Optional[set] = None) -> tuple[set[str], dict[str, int]]:
    """(ids of the participants who count, {reason: how many were dropped} over REASONS).
    progress: {participant id: tasks done}; judgements: every judgement of the study (rooms included);
    failed_checks: the participants who failed an attention check (used with flt.drop_failed_checks)."""
    by_pid: dict[str, list[Mapping]] = {}
    for r in judgements:
        by_pid.setdefault(r["participant_id"], []).append(r)
    keep: set[str] = set()
    dropped = {reason: 0 for reason in REASONS}
    for p in participants:
        pid = p["participant_id"]
        mine = by_pid.get(pid, [])
        gap = median_gap_s(r["created_at"] for r in mine if r["room"] == WHOLE)
        if metaverse_ids is not None and any(r["metaverse_id"] not in metaverse_ids for r in mine):
            dropped["unknown_ids"] += 1
        elif flt.drop_failed_checks and pid in (failed_checks or ()):
            dropped["failed_check"] += 1
        elif gap is not None and gap < flt.min_median_gap_s:
            dropped["too_fast"] += 1
        elif progress.get(pid, 0) < flt.min_tasks_done:
            dropped["fewer_tasks_done"] += 1
        else:
            keep.add(pid)
    return keep, dropped

