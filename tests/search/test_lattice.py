"""The span lattice of a short query (backend/data/text.py) and its best-cut room evidence (backend/search/lattice.py)."""
from __future__ import annotations

import numpy as np
import pytest

from backend.data.text import Span, QueryLattice, content_words, query_lattice, split_query
from backend.search.lattice import SpanTable


def test_short_clauses_are_not_cut():
    lat = query_lattice([["orange flowers"], ["a grey forest"]])
    assert lat.clauses == ("orange flowers", "a grey forest")
    assert [(s.clause, s.start, s.end, s.text) for s in lat.spans] == [(0, 0, 2, "orange flowers"),
                                                                      (1, 0, 2, "grey forest")]


def test_a_clause_without_separators_is_cut_into_runs_of_content_words():
    lat = query_lattice(split_query("sepia dunes pastel mountains grey ruins"))
    assert lat.clause_words == (6,)
    texts = [s.text for s in lat.spans]
    assert texts[0] == "sepia dunes pastel mountains grey ruins"           # the whole clause comes first
    assert {"sepia dunes", "pastel mountains", "grey ruins"} <= set(texts)
    assert all(2 <= s.end - s.start <= 4 for s in lat.spans[1:])          # no one-word span, none over 4 words
    assert len(texts) == len(set((s.start, s.end) for s in lat.spans))


def test_content_words_drop_filler_but_never_everything():
    assert content_words("Starts with a room of Sepia dunes") == ["sepia", "dunes"]
    assert content_words("the one") == ["the", "one"]


def test_a_bare_number_names_no_room():
    assert content_words("dark forests in deep blues 17") == ["dark", "forests", "deep", "blues"]
    assert content_words("8-bit amber dungeon") == ["8-bit", "amber", "dungeon"]
    assert len(query_lattice(split_query("dark forests in deep blues 17")).spans) == 6   # 4 words, not 5: 10 spans


def _table(clause_words, spans):
    return SpanTable.of(QueryLattice(tuple(f"c{i}" for i in range(len(clause_words))), tuple(clause_words),
                                     tuple(Span(c, a, b, f"{c}:{a}-{b}") for c, a, b in spans)))


def test_whole_clauses_give_the_word_weighted_mean():
    table = _table([2, 3], [(0, 0, 2), (1, 0, 3)])
    best = np.array([[0.5, 0.2], [0.1, 0.9]], np.float32)
    assert table.evidence(best) == pytest.approx([(2 * 0.5 + 3 * 0.2) / 5, (2 * 0.1 + 3 * 0.9) / 5])
    assert table.n_clauses == 2


def test_best_cut_beats_the_whole_clause_when_its_halves_match_better():
    table = _table([4], [(0, 0, 4), (0, 0, 2), (0, 2, 4), (0, 1, 3)])
    # candidate 0: rooms that match each half; candidate 1: a room that matches the whole clause
    best = np.array([[0.3, 0.8, 0.7, 0.1], [0.6, 0.2, 0.2, 0.9]], np.float32)
    assert table.evidence(best) == pytest.approx([(2 * 0.8 + 2 * 0.7) / 4, 0.6])
    assert table.best_cut(best[0]) == [1, 2]
    assert table.best_cut(best[1]) == [0]     # the middle span alone cannot cover the clause



def test_best_cuts_of_many_candidates_are_each_ones_best_tiling():
    spans = [(0, 0, 4), (0, 0, 2), (0, 2, 4), (0, 1, 3), (0, 0, 1), (1, 0, 2), (1, 0, 1), (1, 1, 2)]
    table = _table([4, 2], spans)

    def tilings(c, j, n):          # every sequence of clause c's spans covering words j..n exactly
        if j == n:
            yield []
        for p, (cc, a, b) in enumerate(spans):
            if cc == c and a == j:
                yield from ([p] + rest for rest in tilings(c, b, n))

    def brute(row):
        return [p for c, n in enumerate([4, 2])
                for p in max(tilings(c, 0, n), key=lambda cut: sum((spans[q][2] - spans[q][1]) * row[q] for q in cut))]

    best = np.random.default_rng(2).uniform(size=(30, len(spans)))
    assert table.best_cuts(best) == [brute(row) for row in best]
    assert table.best_cut(best[3]) == brute(best[3])
    assert table.best_cuts(best[:0]) == []

def test_evidence_is_monotone_so_the_unseen_bound_holds():
    rng = np.random.default_rng(0)
    table = _table([5], [(0, 0, 5)] + [(0, a, b) for a in range(5) for b in range(a + 2, min(5, a + 4) + 1)
                                      if (a, b) != (0, 5)])
    best = rng.uniform(-1, 1, (50, len(table.clause)))
    upper = best.max(0, keepdims=True)
    assert np.all(table.evidence(best) <= table.evidence(upper)[0] + 1e-6)


def test_query_without_separators_is_read_per_hit(service):
    """A query with no separator is cut into shown parts by the model; each hit says how it cut the words into rooms,
    and its room evidence is exactly that cut's word-weighted score."""
    out = service.search(text="stormy grey seascapes pastel flower still lifes", k=3, ranker="hicalm")
    parts = out["query"]["parts"]
    assert " ".join(parts).split() == "stormy grey seascapes pastel flower still lifes".split()
    assert all(1 <= r["part"] <= len(parts) for h in out["results"] for r in h["rooms"])
    assert [g["part"] for g in out["room_matches"]] == list(range(1, len(parts) + 1))
    words = "stormy grey seascapes pastel flower still lifes".split()
    for h in out["results"]:
        reading = h["reading"]
        assert " ".join(s["text"] for s in reading).split() == words           # every word once, in order
        rooms = {r["number"]: r for r in h["rooms"]}
        assert all(s["score"] <= rooms[s["room"]]["score"] + 1e-4 for s in reading)
        weighted = sum(len(s["text"].split()) * s["score"] for s in reading) / len(words)
        assert h["room_evidence"] == pytest.approx(weighted, abs=1e-3)


def test_descriptions_and_images_have_no_reading(service, tmp_path):
    col = service.collection
    description = "\n\n".join(col.metaverses[0].paragraphs)
    out = service.search(text=description, k=2, ranker="hicalm")
    assert all("reading" not in h for h in out["results"])
