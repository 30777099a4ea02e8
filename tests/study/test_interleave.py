"""Team-draft interleaving: hand-worked examples, edge cases, reproducibility and the balance invariant."""
from __future__ import annotations

import random

import numpy as np
import pytest

from backend.study.interleave import Interleaving, credit, team_draft


class Coins:
    """A fixed coin sequence: each value < 0.5 means "a" picks on a tie; fails if more coins are drawn than given."""

    def __init__(self, values):
        self.values = list(values)
        self.used = 0

    def random(self) -> float:
        assert self.used < len(self.values), "team_draft drew more coins than the worked example expects"
        v = self.values[self.used]
        self.used += 1
        return v


A = ["d1", "d2", "d3", "d4"]
B = ["d2", "d1", "d4", "d3"]


def test_worked_example_a_wins_first_coin():
    # coins: 0.2 (a), 0.7 (b)
    # 1. picks 0-0, tie -> coin 0.2 -> a; a's best unplaced = d1         list [d1]          teams [a]
    # 2. picks 1-0 -> b; b's best unplaced = d2                           list [d1 d2]       teams [a b]
    # 3. picks 1-1, tie -> coin 0.7 -> b; b: d2, d1 placed -> d4          list [d1 d2 d4]    teams [a b b]
    # 4. picks 1-2 -> a; a: d1, d2 placed -> d3                           list [d1 d2 d4 d3] teams [a b b a]
    coins = Coins([0.2, 0.7])
    il = team_draft(A, B, 4, coins, names=("hicalm", "baseline"))
    assert il.ids == ("d1", "d2", "d4", "d3")
    assert il.teams == ("a", "b", "b", "a")
    assert (il.ranker_a, il.ranker_b) == ("hicalm", "baseline")
    assert coins.used == 2


def test_worked_example_b_wins_first_coin():
    # coins: 0.7 (b), 0.2 (a)
    # 1. tie -> b: d2        2. a: d1        3. tie -> a: d1, d2 placed -> d3        4. b: d2, d1 placed -> d4
    coins = Coins([0.7, 0.2])
    il = team_draft(A, B, 4, coins)
    assert il.ids == ("d2", "d1", "d3", "d4")
    assert il.teams == ("b", "a", "a", "b")
    assert il.ranker_a is None and coins.used == 2


def test_worked_example_k_cuts_the_list():
    # same coins as the first example, k = 3: the first three picks only, the second coin is still drawn at step 3
    coins = Coins([0.2, 0.7])
    il = team_draft(A, B, 3, coins)
    assert il.ids == ("d1", "d2", "d4") and il.teams == ("a", "b", "b") and coins.used == 2


def test_credit_worked_example():
    # list [d1 d2 d4 d3], teams [a b b a] (first worked example)
    il = team_draft(A, B, 4, Coins([0.2, 0.7]), names=("hicalm", "baseline"))
    # grades d1=3, d2=0, d3=1, d4=0; threshold 1: a gets d1, d3 -> 2; b gets nothing -> 0; a wins
    grades = {"d1": 3, "d2": 0, "d3": 1, "d4": 0}
    assert credit(il, grades) == {"wins_a": 2, "wins_b": 0, "outcome": "a", "winner": "hicalm"}
    # threshold 2: only d1 (grade 3) counts -> 1 : 0
    assert credit(il, grades, threshold=2)["wins_a"] == 1
    # d2=2, d4=1 relevant (both team b); d1 unjudged (None) does not count -> 0 : 2, baseline wins
    assert credit(il, {"d2": 2, "d4": 1, "d1": None}) == {"wins_a": 0, "wins_b": 2, "outcome": "b",
                                                          "winner": "baseline"}
    # clicks as a set: d1 (a) and d2 (b) -> 1 : 1 tie; an id not shown ("zz") is ignored
    assert credit(il, {"d1", "d2", "zz"}) == {"wins_a": 1, "wins_b": 1, "outcome": "tie", "winner": None}
    # nothing relevant -> tie 0 : 0
    assert credit(il, set())["outcome"] == "tie"


def test_credit_without_names_has_no_winner_name():
    il = team_draft(A, B, 4, Coins([0.2, 0.7]))
    assert credit(il, {"d1"}) == {"wins_a": 1, "wins_b": 0, "outcome": "a", "winner": None}


def test_identical_lists_give_the_list_itself():
    # whatever the coins, each pick takes the single shared list's next item, so the order is the list's own;
    # coins 0.2, 0.7: tie -> a: x; b: y; tie -> b: z -> teams [a b b]
    coins = Coins([0.2, 0.7])
    il = team_draft(["x", "y", "z"], ["x", "y", "z"], 3, coins)
    assert il.ids == ("x", "y", "z") and il.teams == ("a", "b", "b")
    for seed in range(50):
        assert team_draft(["x", "y", "z", "w"], ["x", "y", "z", "w"], 4, seed).ids == ("x", "y", "z", "w")


def test_disjoint_lists():
    # coins 0.7 (b), 0.2 (a): tie -> b: b1; a: a1; tie -> a: a2; b: b2
    coins = Coins([0.7, 0.2])
    il = team_draft(["a1", "a2", "a3"], ["b1", "b2", "b3"], 4, coins)
    assert il.ids == ("b1", "a1", "a2", "b2") and il.teams == ("b", "a", "a", "b")


def test_one_list_empty():
    # a has nothing: b fills alone and no coin is drawn (Coins([]) would fail on a draw)
    il = team_draft([], ["b1", "b2", "b3"], 2, Coins([]))
    assert il.ids == ("b1", "b2") and il.teams == ("b", "b")
    il = team_draft(["a1"], [], 5, Coins([]))
    assert il.ids == ("a1",) and il.teams == ("a",)
    assert team_draft([], [], 5, Coins([])).ids == ()


def test_k_larger_than_union():
    # a = [x y], b = [y z], k = 10, coin 0.2 (a):
    # 1. tie -> a: x    2. b: y    3. picks 1-1 but a has nothing left (x, y placed) -> b: z, no coin    4. both done
    coins = Coins([0.2])
    il = team_draft(["x", "y"], ["y", "z"], 10, coins)
    assert il.ids == ("x", "y", "z") and il.teams == ("a", "b", "b") and coins.used == 1


def test_lists_of_different_lengths():
    # a = [p q r s t], b = [q], k = 4, coin 0.7 (b):
    # 1. tie -> b: q    2. a: p    3. tie, but b is exhausted -> a: r (no coin)    4. a: s
    coins = Coins([0.7])
    il = team_draft(["p", "q", "r", "s", "t"], ["q"], 4, coins)
    assert il.ids == ("q", "p", "r", "s") and il.teams == ("b", "a", "a", "a") and coins.used == 1


def test_duplicates_inside_one_list_are_placed_once():
    # a = [x x y], b = [x z], coin 0.2 (a): a: x; b: x placed -> z; tie, coin 0.2 -> a: x placed, x placed -> y
    il = team_draft(["x", "x", "y"], ["x", "z"], 5, Coins([0.2, 0.2]))
    assert il.ids == ("x", "z", "y") and il.teams == ("a", "b", "a")


def test_k_zero_and_bad_arguments():
    assert team_draft(A, B, 0, 1).ids == ()
    with pytest.raises(ValueError, match="k=-1"):
        team_draft(A, B, -1, 1)
    with pytest.raises(ValueError, match="k="):
        team_draft(A, B, 2.5, 1)
    with pytest.raises(ValueError, match="rng"):
        team_draft(A, B, 2, "seed")
    with pytest.raises(ValueError, match="rng"):
        team_draft(A, B, 2, True)
    with pytest.raises(ValueError, match="names"):
        team_draft(A, B, 2, 1, names=("only-one",))
    with pytest.raises(ValueError, match="grade"):
        credit(team_draft(A, B, 2, 1), {"d1": "high"})
    with pytest.raises(ValueError, match="clicked_or_relevant"):
        credit(team_draft(A, B, 2, 1), ["d1"])


def _random_pair(rng: random.Random, pool: int = 20, n_a: int = 12, n_b: int = 12):
    items = [f"m-{i:04d}" for i in range(pool)]
    return rng.sample(items, n_a), rng.sample(items, n_b)


def test_reproducible_with_a_seed():
    a, b = _random_pair(random.Random(3))
    first = team_draft(a, b, 10, 42)
    assert team_draft(a, b, 10, 42) == first
    assert team_draft(a, b, 10, random.Random(42)) == first                 # an int seed is random.Random(seed)
    g1 = team_draft(a, b, 10, np.random.default_rng(7))
    assert team_draft(a, b, 10, np.random.default_rng(7)) == g1
    assert len({team_draft(a, b, 10, s).teams for s in range(30)}) > 1      # the coin does matter


def test_every_item_once_and_balanced_prefixes():
    # both lists are permutations of the same 20 items and k = 10 < 20, so neither runs out: the team counts
    # differ by at most one at every prefix, and after an even number of picks they are equal
    rng = random.Random(0)
    for trial in range(200):
        items = [f"museum-{i:04d}" for i in range(20)]
        a, b = rng.sample(items, 20), rng.sample(items, 20)
        il = team_draft(a, b, 10, trial)
        assert len(il.ids) == 10 and len(set(il.ids)) == 10
        for n in range(1, len(il.teams) + 1):
            na = il.teams[:n].count("a")
            assert abs(na - (n - na)) <= 1
            if n % 2 == 0:
                assert na == n // 2


def test_every_item_once_and_length_on_random_lists():
    # arbitrary lengths and overlaps: no repeats, only items of a or b, each from a list of its own team,
    # length = min(k, |a ∪ b|), and each team's items appear in its own list's order
    rng = random.Random(1)
    for trial in range(300):
        a, b = _random_pair(rng, pool=15, n_a=rng.randint(0, 10), n_b=rng.randint(0, 10))
        k = rng.randint(0, 16)
        il = team_draft(a, b, k, trial)
        assert len(set(il.ids)) == len(il.ids) == min(k, len(set(a) | set(b)))
        for doc, team in zip(il.ids, il.teams):
            assert doc in (a if team == "a" else b)
        for team, lst in (("a", a), ("b", b)):
            picked = [d for d, t in zip(il.ids, il.teams) if t == team]
            assert picked == sorted(picked, key=lst.index)


def test_first_pick_is_a_fair_coin():
    # over 2,000 seeds the team placing rank 1 is "a" about half the time (binomial sd ~ 1.1 %)
    firsts = [team_draft(A, B, 1, s).teams[0] for s in range(2000)]
    assert 0.45 < firsts.count("a") / 2000 < 0.55


def test_interleaving_validates_and_round_trips():
    il = team_draft(A, B, 4, 5, names=("hicalm", "baseline"))
    assert Interleaving.from_dict(il.to_dict()) == il
    assert il.team_of(il.ids[0]) == il.teams[0] and il.team_of("nope") is None
    assert il.ranker_of("a") == "hicalm"
    with pytest.raises(ValueError, match="same length"):
        Interleaving(ids=("x",), teams=())
    with pytest.raises(ValueError, match="teams"):
        Interleaving(ids=("x",), teams=("c",))
    with pytest.raises(ValueError, match="more than once"):
        Interleaving(ids=("x", "x"), teams=("a", "b"))
