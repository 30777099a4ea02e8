"""Room evidence of a query read as a span lattice (backend/data/text.py QueryLattice): per metaverse, the cut of each
clause into spans that the metaverse's rooms match best, found by dynamic programming over the clause's words.

A span of `l` words whose best room scores `a` earns `l * a`; a clause's cuts are compared by their sum, and the
evidence is that sum over all clauses divided by the query's content words (each word counts once, whichever span it
falls in). Reading all spans at once (mean of max) would let "pastel mountains grey" and "mountains grey ruins"
both count; the cut lets each word speak once. Measured on the dev half of queries/typed-v1.jsonl (hicalm, served
ranking, 2026-11-30), against the clause reading alone: multi-room R@1 52.6 -> 63.2 % with R@10 unchanged at 97.4 %;
with the separators removed from the same queries (`eval --separators strip`: no commas, "and", "plus", "also",
"then") R@10 47.4 -> 84.2 %; with them swapped for ones the clause rule does not know (" / ", "along with",
"together with") R@10 42.1 -> 78.9 %. The cost: one-room P@10 65.6 -> 63.7 %."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from backend.data.text import QueryLattice


@dataclass(frozen=True)
class SpanTable:
    """The lattice as arrays: which clause (the unit the best cut runs over) each span belongs to, which of its content
    words it covers, and which shown part it belongs to. A span of a cut that does not start its clause (or a free
    position) costs cut_cost (word x cosine units), so a reading only splits where the rooms answer it clearly
    better."""
    clause: np.ndarray         # (P,) clause of each span
    start: np.ndarray          # (P,)
    end: np.ndarray            # (P,)
    clause_words: np.ndarray   # (n_clauses,)
    text: tuple[str, ...]      # (P,) each span's words
    shown: Optional[np.ndarray] = None   # (P,) shown part of each span; None: its clause
    cut_cost: float = 0.0                # what a span not starting a clause costs ...
    free: Optional[np.ndarray] = None    # ... unless free[start] (one-clause tables: where the query's punctuation cut)

    @classmethod
    def of(cls, lattice: QueryLattice) -> "SpanTable":
        s = lattice.spans
        return cls(np.array([x.clause for x in s], np.int64), np.array([x.start for x in s], np.int64),
                   np.array([x.end for x in s], np.int64), np.array(lattice.clause_words, np.int64),
                   tuple(x.text for x in s))

    @classmethod
    def of_reading(cls, reading, order=None, n_shown: Optional[int] = None, cut_cost: float = 0.0) -> "SpanTable":
        """A backend.search.reading.Reading (one clause: the whole query) with the spans `order` picks (default: all),
        the first n_shown of which are the shown parts; every other span belongs to the shown part holding its
        first word. A cut at the reading's punctuation is free, any other costs cut_cost."""
        spans = [reading.spans[i] for i in (range(len(reading.spans)) if order is None else order)]
        start, end = np.array([x.start for x in spans], np.int64), np.array([x.end for x in spans], np.int64)
        shown = None
        if n_shown is not None:
            shown = np.array([next(i for i in range(n_shown) if start[i] <= start[p] < end[i]) if p >= n_shown
                              else p for p in range(len(spans))], np.int64)
        free = np.zeros(len(reading.words) + 1, bool)
        free[list(reading.breaks)] = True
        return cls(np.zeros(len(spans), np.int64), start, end, np.array([len(reading.words)], np.int64),
                   tuple(x.text for x in spans), shown, float(cut_cost), free)

    @property
    def n_clauses(self) -> int:
        return len(self.clause_words)

    @property
    def n_shown(self) -> int:
        """Parts a person sees: the clauses, or the shown parts of a reading (parts[:n_shown])."""
        return self.n_clauses if self.shown is None else int(self.shown.max()) + 1

    def shown_part(self, p: int) -> int:
        return int(self.clause[p] if self.shown is None else self.shown[p])

    def _clause_table(self, best: np.ndarray, c: int, back: bool = False):
        """The DP over clause c's words for every row of best (C, P): f (C, n + 1), the best score of a cut of the
        first j words, and with back, (C, n + 1) the span that ends each best prefix (-1: none)."""
        n = int(self.clause_words[c])
        mine = np.flatnonzero(self.clause == c)
        f = np.full((best.shape[0], n + 1), -np.inf)
        f[:, 0] = 0.0
        ends = np.full((best.shape[0], n + 1), -1) if back else None
        for j in range(1, n + 1):
            for p in mine[self.end[mine] == j]:
                i = int(self.start[p])
                v = f[:, i] + (j - i) * best[:, p] - (0.0 if i == 0 or (self.free is not None and self.free[i])
                                                     else self.cut_cost)
                if ends is None:
                    np.maximum(f[:, j], v, out=f[:, j])
                else:
                    better = v > f[:, j]
                    f[better, j], ends[better, j] = v[better], p
        return f, ends

    def evidence(self, best: np.ndarray) -> np.ndarray:
        """(C, P) each candidate's best room score per span -> (C,) room evidence (word-weighted best cut)."""
        best = np.asarray(best, np.float32)
        total = np.zeros(best.shape[0], np.float64)
        for c, n in enumerate(self.clause_words):
            total += self._clause_table(best, c)[0][:, int(n)]
        return (total / max(1, int(self.clause_words.sum()))).astype(np.float32)

    def best_cut(self, best: np.ndarray) -> list[int]:
        """(P,) one candidate's best room score per span -> the spans of its best cut, in query order."""
        return self.best_cuts(np.asarray(best)[None, :])[0]

    def best_cuts(self, best: np.ndarray) -> list[list[int]]:
        """(C, P) best room score per candidate and span -> each candidate's best cut (one DP for all of them)."""
        best = np.asarray(best, np.float64)
        out: list[list[int]] = [[] for _ in range(len(best))]
        start = self.start.tolist()
        for c, n in enumerate(self.clause_words):
            ends = self._clause_table(best, c, back=True)[1].tolist()                  # (C, n + 1)
            for row, cut in zip(ends, out):
                piece, j = [], int(n)
                while j > 0 and row[j] >= 0:
                    piece.append(row[j])
                    j = start[row[j]]
                cut += piece[::-1]
        return out
