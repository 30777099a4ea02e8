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
