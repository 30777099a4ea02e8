"""Splitting free text into sentences and paragraphs the way descriptions are stored (sentence -> paragraph)."""
from __future__ import annotations

import re

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
