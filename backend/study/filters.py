"""Which participants count in a study's numbers and exports: drop the forged, the too fast, the unfinished."""
from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Optional

log = logging.getLogger(__name__)

WHOLE = -1
REASONS = ("unknown_ids", "too_fast", "fewer_tasks_done")   # a dropped participant counts under the first that fits


@dataclass(frozen=True)
class ParticipantFilter:
    """A participant counts when none of their grades names a metaverse outside the collection (forged or since
    removed: "unknown_ids"), when the median time between two of their grades is at least `min_median_gap_s`
    (a person reads a result before grading it; a script does not: "too_fast"; fewer than 2 grades: not judged)
    and when they finished at least `min_tasks_done` tasks ("fewer_tasks_done"). NONE keeps everyone."""
    min_tasks_done: int = 1
    min_median_gap_s: float = 1.0

    def __post_init__(self):
        if isinstance(self.min_tasks_done, bool) or not isinstance(self.min_tasks_done, int) or \
                not 0 <= self.min_tasks_done <= 1000:
            raise ValueError(f"min_tasks_done = {self.min_tasks_done!r} is not allowed: an integer in 0..1000")
        gap = self.min_median_gap_s
        if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 <= gap <= 3600:
            raise ValueError(f"min_median_gap_s = {gap!r} is not allowed: a number of seconds in 0..3600")

    def to_dict(self) -> dict:
        return {"min_tasks_done": self.min_tasks_done, "min_median_gap_s": float(self.min_median_gap_s)}


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


def select_participants(participants: Iterable[Mapping], judgements: Iterable[Mapping],
                        progress: Mapping[str, int], flt: ParticipantFilter = ParticipantFilter(),
                        metaverse_ids: Optional[set] = None) -> tuple[set[str], dict[str, int]]:
    """(ids of the participants who count, {reason: how many were dropped} over REASONS).
    progress: {participant id: tasks done}; judgements: every judgement of the study (rooms included)."""
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
        elif gap is not None and gap < flt.min_median_gap_s:
            dropped["too_fast"] += 1
        elif progress.get(pid, 0) < flt.min_tasks_done:
            dropped["fewer_tasks_done"] += 1
        else:
            keep.add(pid)
    return keep, dropped

