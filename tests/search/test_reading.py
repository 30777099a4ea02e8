"""Reading a typed query into rooms (backend/search/reading.py): punctuation cuts, the model decides the rest, and a
one-word room is a room."""
from __future__ import annotations

import numpy as np
import pytest

from backend.search.lattice import SpanTable
from backend.search.reading import best_reading, read_query, specificity


@pytest.mark.parametrize("text", ["ruins, portraits, flowers", "ruins / portraits / flowers", "ruins\nportraits\nflowers",
                                  "ruins + portraits + flowers", "ruins; portraits; flowers", "ruins|portraits|flowers"])
def test_punctuation_marks_free_cuts_and_every_word_is_a_span(text):
    r = read_query(text)
    assert [w.text for w in r.words] == ["ruins", "portraits", "flowers"] and r.breaks == (0, 1, 2)
    assert {s.text for s in r.spans if s.end - s.start == 1} == {"ruins", "portraits", "flowers"}


def test_hyphens_inside_words_do_not_cut_and_filler_never_names_a_room():
    r = read_query("an 8-bit cel-shaded dungeon - and then a museum of ruins")
    assert [w.text for w in r.words] == ["8-bit", "cel-shaded", "dungeon", "ruins"] and r.breaks == (0, 3)
    assert [w.text for w in read_query("the one").words] == ["the", "one"]


def test_every_run_of_one_to_four_words_is_a_span_and_labels_quote_the_query():
    r = read_query("old ruins in sepia then portraits")
    n = len(r.words)
    assert n == 4 and {(s.start, s.end) for s in r.spans} == {(a, b) for a in range(n)
                                                               for b in range(a + 1, min(n, a + 4) + 1)}
    assert r.label(next(s for s in r.spans if s.text == "old ruins sepia")) == "old ruins in sepia"
    long = read_query("red blue green pink teal gold, violet")
    assert any(s.start == 0 and s.end == 6 for s in long.spans)        # a whole piece, however long


def _scores(reading, good: set[str], good_score=3.5, other=2.5):
    return np.array([good_score if s.text in good else other for s in reading.spans])


@pytest.mark.parametrize("text", ["ruins and portraits and flowers", "ruins then portraits then flowers",
                                  "ruins portraits flowers", "ruins, portraits and flowers", "ruins/portraits/flowers"])
def test_the_model_cuts_every_join_form_into_one_word_rooms(text):
    r = read_query(text)
    shown = best_reading(r, _scores(r, {"ruins", "portraits", "flowers"}))
    assert [r.spans[i].text for i in shown] == ["ruins", "portraits", "flowers"]


def test_a_room_named_in_several_words_stays_whole():
    r = read_query("old ruins in sepia, then portraits, then a still life of fruit")
    shown = best_reading(r, _scores(r, {"old ruins sepia", "portraits", "still life fruit"}))
    assert [r.label(r.spans[i]) for i in shown] == ["old ruins in sepia", "portraits", "still life of fruit"]


def test_punctuation_always_cuts_even_a_modifier():
    r = read_query("ruined temple columns, grey")
    shown = best_reading(r, _scores(r, {"ruined temple columns"}))
    assert [r.spans[i].text for i in shown] == ["ruined temple columns", "grey"]
    assert not any(s.start < 3 < s.end for s in r.spans)


def test_a_cut_without_punctuation_must_pay_for_itself():
    r = read_query("stormy grey seascapes")
    flat = np.full(len(r.spans), 3.0)
    assert [r.spans[i].text for i in best_reading(r, flat, cut_cost=0.05)] == ["stormy grey seascapes"]
    r = read_query("stormy, grey, seascapes")
    assert len(best_reading(r, np.full(len(r.spans), 3.0), cut_cost=0.05)) >= 1     # free cuts: any reading ties


def test_specificity_prefers_a_sharp_best_room_over_a_high_blend():
    sharp = np.r_[0.4, np.zeros(99)]
    blend = np.r_[0.45, np.full(99, 0.3)] + np.linspace(0, 0.01, 100)
    z = specificity(np.stack([sharp, blend]))
    assert z[0] > z[1]


def test_shown_parts_map_every_span():
    r = read_query("ruins portraits flowers")
    shown = [i for i, s in enumerate(r.spans) if s.end - s.start == 1]
    order = shown + [i for i in range(len(r.spans)) if i not in shown]
    t = SpanTable.of_reading(r, order, len(shown), cut_cost=0.1)
    assert t.n_shown == 3 and t.n_clauses == 1
    assert [t.shown_part(p) for p in range(len(order))] == [0, 1, 2] + [int(r.spans[i].start) for i in order[3:]]
    best = np.array([[0.9, 0.9, 0.9] + [0.2] * (len(order) - 3)])
    assert t.evidence(best)[0] == pytest.approx((3 * 0.9 - 2 * 0.1) / 3)


@pytest.mark.parametrize("text, n", [("a room of stormy seascapes and a room of flower still lifes", 2),
                                     ("portraits", 1)])
def test_the_service_shows_the_parts(service, text, n):
    out = service.search(text=text, k=3, ranker="hicalm")
    assert len(out["query"]["parts"]) >= 1
    assert all(1 <= r["part"] <= len(out["query"]["parts"]) for h in out["results"] for r in h["rooms"])
