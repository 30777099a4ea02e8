"""How a short typed query is read into the rooms it names, with the cuts decided by the model instead of a list of
connector words. Every run of 1-SPAN_MAX_WORDS content words is a span, one-word rooms ("portraits") included,
and every whole piece.
Which runs are the rooms is decided twice by the same word-weighted dynamic programme (backend/search/lattice.py):

- for display, once per query, against the whole collection: each span scores how sharply it picks rooms out
  (specificity). Punctuation (commas, slashes, "+", line breaks...) always cuts; a cut anywhere else costs
  SHOW_CUT_COST, so "old ruins in sepia then portraits then a still life of fruit" shows three parts whatever joins
  them, while "a game with snowy mountains" stays one. (Letting the model also join pieces across punctuation, so
  that "ruined temple columns, grey" stays one room, lost 2.6 points of dev multi-room R@1 and 7.7 of order.)
- for ranking, per metaverse, against that metaverse's rooms (SpanTable.evidence) over the shown parts, the pieces
  and their runs of 2+ words (cuts free), so a metaverse is scored on the reading its own rooms answer best. A single word is a
  span there only where the display reading made it a room: scored per metaverse, every word would find its own
  best room (a bag of words).

Words that name no room (articles, "and", "then", "starts with", "museum"...) are dropped as before
(backend/data/text.py content_words); they no longer decide where rooms begin."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from backend.data.text import FILLER_WORDS, Span

# The longest run a piece is cut into; a longer room is still one span as a whole piece. 3 instead of 4 (2026-12-06,
# dev halves of typed-v1 / style-dev-v1 / kind-dev-v1): multi-room R@1 68.4 -> 71.0, R@10 94.7 both, order 76.9 ->
# 84.6, one-room and style equal; separators stripped R@1 47.4 -> 52.6, R@10 84.2 -> 81.6; and a five-word piece
# sends 8 multi-word texts through the encoder instead of 10. 2 lost dev multi-room R@10 (86.8).
SPAN_MAX_WORDS = 3
SHOW_CUT_COST = 0.45   # a cut inside a piece of the query, in word x specificity units (tuned on the dev half)
# Punctuation a person puts between the rooms they list; a hyphen inside a word ("8-bit", "cel-shaded") is not one.
_HARD_BREAK = re.compile(r"[,;/+|:.!?&()\[\]\n\u2014\u2013]|\s-+\s")
_WORD = re.compile(r"[\w'-]+")


@dataclass(frozen=True)
class Word:
    text: str    # lower-cased
    start: int   # character offsets in the query
    end: int


@dataclass(frozen=True)
class Reading:
    """A query's content words in order, where its punctuation cut them (`breaks`: word positions a piece starts at,
    0 first), and its spans: every run of 1..SPAN_MAX_WORDS words inside a piece, and every whole piece. All spans
    belong to clause 0 and index the words of the whole query."""
    text: str
    words: tuple[Word, ...]
    breaks: tuple[int, ...]
    spans: tuple[Span, ...]

    def label(self, span: Span) -> str:
        """The query's own words from the span's first content word to its last ("old ruins in sepia")."""
        return self.text[self.words[span.start].start:self.words[span.end - 1].end]

    def within_piece(self, span: Span) -> bool:
        return not any(span.start < b < span.end for b in self.breaks)

    def is_piece(self, span: Span) -> bool:
        ends = list(self.breaks[1:]) + [len(self.words)]
        return any(span.start == a and span.end == b for a, b in zip(self.breaks, ends))


def _pieces(text: str) -> list[list[Word]]:
    out, last = [], 0
    bounds = [(m.start(), m.end()) for m in _HARD_BREAK.finditer(text)] + [(len(text), len(text))]
    for a, b in bounds:
        words = [Word(m.group().lower(), last + m.start(), last + m.end()) for m in _WORD.finditer(text[last:a])]
        words = [w for w in words if w.text.strip("'-")]
        if words:
            out.append(words)
        last = b
    return out


def read_query(text: str) -> Reading:
    """The words, pieces and spans of a short query; a query of filler words only is read as all its words."""
    raw = _pieces(text)
    pieces = [[w for w in p if w.text not in FILLER_WORDS and not w.text.isdigit()] for p in raw]
    pieces = [p for p in pieces if p]
    if not pieces:                       # "the one", "a museum": nothing names a room, so every word counts
        pieces = [[w for p in raw for w in p]] if raw else [[Word(text.lower(), 0, len(text))]]
    words = [w for p in pieces for w in p]
    breaks = list(np.cumsum([0] + [len(p) for p in pieces[:-1]]).astype(int))
    n = len(words)
    ends = breaks[1:] + [n]
    runs = {(a, b) for lo, hi in zip(breaks, ends) for a in range(lo, hi)
            for b in range(a + 1, min(hi, a + SPAN_MAX_WORDS) + 1)} | set(zip(breaks, ends))
    spans = tuple(Span(0, a, b, " ".join(w.text for w in words[a:b])) for a, b in sorted(runs))
    return Reading(text, tuple(words), tuple(int(b) for b in breaks), spans)


def specificity(span_room_scores: np.ndarray) -> np.ndarray:
    """(P, N) every span against every room of the collection -> (P,) how sharply each span picks rooms out: its best
    room's score in standard deviations above its mean room score. Raw best scores grow with a span's length (a
    3-word blend "ruins portraits flowers" scores 0.455, "ruins" 0.397), so they would always glue a list into one
    room; the z-score does not (2.72 against 3.51, 3.38, 3.06)."""
    s = np.ascontiguousarray(span_room_scores, np.float64)    # the caller's transposed view: one row per span
    if s.shape[1] < 2:
        return s.max(1) if s.shape[1] else np.zeros(len(s))
    return (s.max(1) - s.mean(1)) / np.maximum(s.std(1), 1e-6)


def best_reading(reading: Reading, span_scores: np.ndarray, cut_cost: Optional[float] = None) -> list[int]:
    """(P,) one score per span (its specificity) -> the spans of the best cut of the query, in order: the
    parts a person is shown. A cut where the visitor put punctuation is free; any other costs cut_cost."""
    from backend.search.lattice import SpanTable
    cost = SHOW_CUT_COST if cut_cost is None else cut_cost
    return SpanTable.of_reading(reading, cut_cost=cost).best_cut(span_scores)
