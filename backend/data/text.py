"""Splitting free text into sentences and paragraphs the way descriptions are stored (sentence -> paragraph)."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_ROOM_START = re.compile(r"(?=\bIn the (?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\w+th) "
                         r"(?:room|video|segment|hall)\b)", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Non-empty sentences of a text; a text without punctuation is one sentence."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def split_paragraphs(text: str) -> list[list[str]]:
    """Paragraphs of sentences. Blank lines or 'In the <ordinal> room…' start a new paragraph."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    paragraphs: list[list[str]] = []
    for block in blocks:
        for part in _ROOM_START.split(block):
            sentences = split_sentences(part)
            if sentences:
                paragraphs.append(sentences)
    return paragraphs


# Where a typed query moves from one room to the next. People join rooms with commas, "and", "plus", "+", "also",
# "then", and order phrases ("starts with", "the last one is", "somewhere in the middle"), in any mix. The query is cut
# at every one of them: the engine aligns each clause with its best room of each metaverse (late interaction, mean
# over clauses of max over rooms, backend/search/engine.py), so a clause that names only part of a room still finds
# that room, and the connector a visitor happened to use no longer decides the ranking. Measured on the dev half of
# queries/typed-v1.jsonl (the old rule cut only at ";", "then", "followed by" and "and a room"): multi-room target R@10
# 50.0 -> 97.4 %, R@1 13.2 -> 52.6 %, one-room P@10 66.3 -> 65.6 %.
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[,;+]|\b(?:and then|then|followed by|plus|and also|also|as well as|and|after that|afterwards|before|next|"
    r"later|finally|(?:it )?(?:starts|begins|opens|ends|finishes|closes) (?:with|on|in)|the (?:last|first) one is|"
    r"somewhere(?: later| in the middle)?|in the middle|in that order|first|right after|only after that)\b)\s*",
    re.IGNORECASE)
# A piece made only of these words names no room ("a museum", "there was", "in that order").
_NO_CONTENT = re.compile(r"^(?:a|an|the|and|some|room|rooms|of|one|two|museum|gallery|game|world|i want|i'd like|"
                         r"looking for|there was|it|is|in|on|with|that|has|where you see|was|mostly|\W)+$",
                         re.IGNORECASE)
_DESCRIPTION_ROOM = re.compile(r"^In the \w+ (?:room|video|segment|hall)\b", re.IGNORECASE)


def split_clauses(sentence: str) -> list[str]:
    """The room-naming clauses of one sentence; a one-word clause is a modifier of its neighbour, not a room of its
    own ("teal and navy mountains" -> ["teal navy mountains"], "ruins, grey" -> ["ruins grey"])."""
    pieces = [p.strip(" ,.:;()") for p in _CLAUSE_BREAK.split(sentence) if p]
    pieces = [p for p in pieces if len(p) > 2 and not _NO_CONTENT.match(p)]
    out: list[str] = []
    carry = ""
    for p in pieces:
        if len(p.split()) == 1 and len(pieces) > 1:
            if out:
                out[-1] = f"{out[-1]} {p}"
            else:
                carry = f"{carry} {p}".strip()
            continue
        out.append(f"{carry} {p}".strip() if carry else p)
        carry = ""
    if carry:
        out.append(carry)
    return out


def split_query(text: str) -> list[list[str]]:
    """A free-text query as paragraphs of sentences. A description keeps its paragraphs; a short query becomes one
    paragraph per clause (split_clauses): "orange flowers plus a grey forest, also pastel animals" ->
    [["orange flowers"], ["a grey forest"], ["pastel animals"]]."""
    paragraphs = split_paragraphs(text)
    if is_description(paragraphs):
        return paragraphs
    parts = [[clause] for par in paragraphs for sentence in par for clause in split_clauses(sentence)]
    return parts or paragraphs


def is_description(paragraphs: list[list[str]]) -> bool:
    """True when the text is shaped like a stored description (a paragraph opens 'In the <ordinal> room/video')."""
    return any(_DESCRIPTION_ROOM.match(p[0]) for p in paragraphs if p)


# Words that name no room whatever their place: articles, connectors, order and "I want" phrasing. Dropped before a
# clause is cut into spans, so a span is made of words that can describe a room ("sepia sand dunes"). Measured for
# the served reading (backend/search/reading.py) on the dev halves, 2026-12-06: with no list, multi-room R@1 / R@10
# 71.0 / 94.7 -> 65.8 / 86.8 and, separators removed, 52.6 / 81.6 -> 26.3 / 55.3 (order 84.6 -> 100, one-room 66.9
# -> 68.8); with articles and "and/of/in/on/with/to" only, 71.0 / 89.5 and 34.2 / 68.4. So the list stays.
FILLER_WORDS = frozenset(
    "a an the and plus also then with of in on at to is are it its there was were one some room rooms museum "
    "museums gallery game games world i want looking for that has where you see mostly first last starts start "
    "begins begin ends end opens finishes closes followed by as well after before next later finally somewhere "
    "middle order only another lots lot full".split())
SPAN_MAX_WORDS = 4      # the longest span a clause is cut into (a room is named in 2-4 content words)
SPAN_MIN_WORDS = 2      # a single word ("sepia") is a modifier, never a room of its own
WHOLE_CLAUSE_WORDS = 3  # a clause of at most this many content words names one room and is not cut


@dataclass(frozen=True)
class Span:
    """A run of content words of one clause: `start`:`end` index its content words."""
    clause: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class QueryLattice:
    """How a short query may name rooms, without trusting its separators: its clauses (split_clauses), each also as
    every run of SPAN_MIN_WORDS-SPAN_MAX_WORDS of its content words when it is longer than WHOLE_CLAUSE_WORDS. Spans
    0..len(clauses)-1 are the whole clauses, in order; sub-spans follow. Scoring picks, per metaverse, the cut of each
    clause into spans that its rooms match best (backend/search/lattice.py): "sepia dunes pastel mountains grey ruins"
    has no connector at all and still reads as three rooms against a metaverse that has them."""
    clauses: tuple[str, ...]
    clause_words: tuple[int, ...]   # content words per clause
    spans: tuple[Span, ...]


def content_words(text: str) -> list[str]:
    """The words of a clause that can describe a room, lower-cased, in order (all words if none survive). A bare
    number ("17", "3") names no picture, like "one" and "two"; "8-bit" is a word."""
    words = re.findall(r"[\w'-]+", text.lower())
    kept = [w for w in words if w not in FILLER_WORDS and not w.isdigit()]
    return kept or words


def query_lattice(paragraphs: list[list[str]]) -> QueryLattice:
    """The span lattice of a short query read by split_query (one clause per paragraph); serving and the typed
    training queries both read a query through this."""
    clauses = [" ".join(p) for p in paragraphs]
    words = [content_words(c) or [c.lower()] for c in clauses]
    spans = [Span(i, 0, len(w), " ".join(w)) for i, w in enumerate(words)]
    for i, w in enumerate(words):
        n = len(w)
        if n <= WHOLE_CLAUSE_WORDS:
            continue
        spans += [Span(i, a, b, " ".join(w[a:b])) for a in range(n)
                  for b in range(a + SPAN_MIN_WORDS, min(n, a + SPAN_MAX_WORDS) + 1) if (a, b) != (0, n)]
    return QueryLattice(tuple(clauses), tuple(len(w) for w in words), tuple(spans))


_UNSAFE_CHARS = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_clean_text(value: str, what: str) -> str:
    """`value` unchanged, or ValueError naming `what` when it holds a lone surrogate (not encodable as UTF-8, so it
    breaks every response and file it reaches) or a control character other than tab and line breaks."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a text.")
    bad = _UNSAFE_CHARS.search(value)
    if bad:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise ValueError(f"{what} holds {kind} ({ascii(bad.group())} at position {bad.start()}); remove it and "
                         "send the text again.")
    return value
