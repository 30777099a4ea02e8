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


# Inside a sentence, these start a new room: "…seascapes, then a room of …", "…; …", "… followed by a jungle",
# "… and a room of …". A plain "and" is left alone ("snowy mountains and a forest" may be one room).
_ROOM_CONNECTOR = re.compile(r"\s*(?:,\s*)?(?:;|\band then\b|\bthen\b|\bfollowed by\b|\band (?=(?:a|an|another|one) "
                             r"(?:room|hall|gallery|segment|level|stage|area)\b))\s*", re.IGNORECASE)
_DESCRIPTION_ROOM = re.compile(r"^In the \w+ (?:room|video|segment|hall)\b", re.IGNORECASE)


def split_query(text: str) -> list[list[str]]:
    """A free-text query as paragraphs of sentences. A description keeps its paragraphs; a short query is cut into
    one paragraph per room it names ("a room of X, then a room of Y" -> [["a room of X"], ["a room of Y"]])."""
    paragraphs = split_paragraphs(text)
    if is_description(paragraphs):
        return paragraphs
    parts = [[piece.strip(" ,.")] for par in paragraphs for sentence in par
             for piece in _ROOM_CONNECTOR.split(sentence) if piece.strip(" ,.")]
    return parts or paragraphs


def is_description(paragraphs: list[list[str]]) -> bool:
    """True when the text is shaped like a stored description (a paragraph opens 'In the <ordinal> room/video')."""
    return any(_DESCRIPTION_ROOM.match(p[0]) for p in paragraphs if p)
