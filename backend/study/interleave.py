"""Team-draft interleaving (Radlinski, Kurup & Joachims, CIKM 2008): one blinded list from two rankings, its credit."""
from __future__ import annotations

import numbers
import random
from dataclasses import dataclass
from typing import Optional, Protocol, Union

TEAMS = ("a", "b")


class _UniformSource(Protocol):
    def random(self) -> float: ...


# random.Random, numpy.random.Generator / RandomState (anything with .random() -> float in [0, 1)), or an int seed.
RngLike = Union[_UniformSource, int]


@dataclass(frozen=True)
class Interleaving:
    """The blinded list shown to a judge: ids[i] came from team teams[i] ("a" = ranker_a, "b" = ranker_b)."""
    ids: tuple[str, ...]                  # (L,) L <= k, no duplicates
    teams: tuple[str, ...]                # (L,) "a" / "b" per position
    ranker_a: Optional[str] = None        # e.g. "hicalm"
    ranker_b: Optional[str] = None        # e.g. "baseline"

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.teams):
            raise ValueError(f"ids ({len(self.ids)}) and teams ({len(self.teams)}) must have the same length")
        bad = sorted({t for t in self.teams if t not in TEAMS})
        if bad:
            raise ValueError(f"teams {bad} not allowed; each team must be one of {TEAMS}")
        if len(set(self.ids)) != len(self.ids):
            dupes = sorted({i for i in self.ids if self.ids.count(i) > 1})
            raise ValueError(f"ids {dupes} appear more than once; an interleaved list shows each item once")

    def team_of(self, doc_id: str) -> Optional[str]:
        """"a" / "b" for an item of the list, None for an item not shown."""
        for i, t in zip(self.ids, self.teams):
            if i == doc_id:
                return t
        return None

    def ranker_of(self, team: str) -> Optional[str]:
        """The ranker name behind team "a" / "b" (None when names were not given)."""
        if team not in TEAMS:
            raise ValueError(f"team {team!r} not allowed; use one of {TEAMS}")
        return self.ranker_a if team == "a" else self.ranker_b

    def to_dict(self) -> dict:
        """Plain JSON-able form (lists, not tuples)."""
        return {"ids": list(self.ids), "teams": list(self.teams), "ranker_a": self.ranker_a, "ranker_b": self.ranker_b}

    @classmethod
    def from_dict(cls, d: dict) -> "Interleaving":
        """Inverse of to_dict (validates again)."""
        return cls(ids=tuple(d["ids"]), teams=tuple(d["teams"]), ranker_a=d.get("ranker_a"),
                   ranker_b=d.get("ranker_b"))


def _as_rng(rng: RngLike) -> _UniformSource:
    """An int seed -> random.Random(seed); anything with .random() is used as is."""
    if isinstance(rng, bool):
        raise ValueError(f"rng={rng!r} not allowed; pass an int seed, a random.Random or a numpy Generator")
    if isinstance(rng, numbers.Integral):
        return random.Random(int(rng))
    if callable(getattr(rng, "random", None)):
        return rng
    raise ValueError(f"rng of type {type(rng).__name__} not allowed; pass an int seed, a random.Random "
                     f"or a numpy Generator")


def team_draft(a: list[str], b: list[str], k: int, rng: RngLike,
               names: Optional[tuple[str, str]] = None) -> Interleaving:
    """Interleave rankings a and b into at most k items by team draft.

    While fewer than k items are placed and either list still has an item not yet placed: the team with fewer picks
    so far picks; on a tie one coin flip (rng.random() < 0.5 -> "a") decides; the picking team appends its
    highest-ranked item not already placed. A coin is drawn only when both teams are tied AND both can still pick.
    When one list runs out (short list, or all its items already placed by the other team) the other keeps filling,
    so the list reaches min(k, |a ∪ b|) items; the team counts differ by at most one only while both could pick.
    names = (ranker of a, ranker of b), e.g. ("hicalm", "baseline"), is carried along for credit()."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"k={k!r} not allowed; k must be an int >= 0")
    if names is not None and len(names) != 2:
        raise ValueError(f"names={names!r} not allowed; give two ranker names (for a, for b) or None")
    source = _as_rng(rng)
    lists = {"a": list(a), "b": list(b)}
    cursor = {"a": 0, "b": 0}                       # next position to look at in each list
    picks = {"a": 0, "b": 0}
    placed: set[str] = set()
    ids: list[str] = []
    teams: list[str] = []

    def advance(team: str) -> bool:
        """Move team's cursor past items already placed; True when it still has one to give."""
        lst = lists[team]
        while cursor[team] < len(lst) and lst[cursor[team]] in placed:
            cursor[team] += 1
        return cursor[team] < len(lst)

    while len(ids) < int(k):
        can = {t: advance(t) for t in TEAMS}
        if not (can["a"] or can["b"]):
            break
        if not can["b"]:
            team = "a"
        elif not can["a"]:
            team = "b"
        elif picks["a"] != picks["b"]:
            team = "a" if picks["a"] < picks["b"] else "b"
        else:
            team = "a" if source.random() < 0.5 else "b"
        item = lists[team][cursor[team]]
        ids.append(item)
        teams.append(team)
        placed.add(item)
        picks[team] += 1
    ranker_a, ranker_b = (names[0], names[1]) if names is not None else (None, None)
    return Interleaving(ids=tuple(ids), teams=tuple(teams), ranker_a=ranker_a, ranker_b=ranker_b)


def credit(interleaving: Interleaving, clicked_or_relevant: Union[set[str], dict[str, Optional[float]]],
           threshold: float = 1) -> dict:
    """Credit for one query: each shown item judged relevant counts one win for the team that placed it.

    clicked_or_relevant: a set of ids (each counts as relevant) or {id: grade} (relevant when grade >= threshold;
    None = not judged = not relevant). Ids not in the list are ignored.
    -> {"wins_a", "wins_b", "outcome": "a" | "b" | "tie", "winner": ranker name of the outcome team (None on a tie
    or without names)}"""
    if isinstance(clicked_or_relevant, dict):
        for doc, g in clicked_or_relevant.items():
            if g is not None and (isinstance(g, bool) or not isinstance(g, numbers.Real)):
                raise ValueError(f"grade {g!r} for {doc!r} not allowed; grades must be numbers (or None = unjudged)")
        relevant = {doc for doc, g in clicked_or_relevant.items() if g is not None and g >= threshold}
    elif isinstance(clicked_or_relevant, (set, frozenset)):
        relevant = set(clicked_or_relevant)
    else:
        raise ValueError(f"clicked_or_relevant of type {type(clicked_or_relevant).__name__} not allowed; "
                         f"pass a set of ids or a dict id -> grade")
    wins = {"a": 0, "b": 0}
    for doc, team in zip(interleaving.ids, interleaving.teams):
        if doc in relevant:
            wins[team] += 1
    outcome = "a" if wins["a"] > wins["b"] else "b" if wins["b"] > wins["a"] else "tie"
    winner = None if outcome == "tie" else interleaving.ranker_of(outcome)
    return {"wins_a": wins["a"], "wins_b": wins["b"], "outcome": outcome, "winner": winner}
