"""Typed search results: a Hit per metaverse with its rooms and images scored, room matches, the whole result."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from backend.search.queries import Query


@dataclass(frozen=True)
class RoomHit:
    """One room of a hit. `index` counts from 0 inside the metaverse (JSON shows `number` = index + 1)."""
    index: int
    score: float                      # best query part · room vector (cosine in the ranker's room space)
    part: int                         # which query part (0-based) gave that score
    contribution: float               # share of the match this room carried; sums to 1 over the hit's rooms
    occlusion_drop: float             # metaverse score minus the score with this room left out (nan-safe: 0)
    image_scores: tuple[float, ...]   # that part · each image of the room, in image (timeline) order
    best_image: Optional[int]         # 0-based index of the image that matched most; None without images


@dataclass(frozen=True)
class SpanReading:
    """One span of the query's best cut for a hit (backend/search/lattice.py) and the room that answers it."""
    text: str                         # the span's content words
    part: int                         # 0-based shown query part (clause) it lies in
    room: int                         # 0-based room of the hit
    score: float                      # span · room vector (cosine)


@dataclass(frozen=True)
class Hit:
    """One ranked metaverse. `row` is its position in the collection."""
    rank: int                         # 1-based
    row: int
    score: float                      # the served score: (metaverse_score + w * room_evidence) / (1 + w)
    metaverse_score: float            # query · metaverse vector (cosine)
    room_evidence: Optional[float]    # mean over query parts of the best room's cosine; None when w = 0
    best_room: int                    # 0-based index of the room that carried most
    rooms: tuple[RoomHit, ...] = ()   # empty when attribution was not asked for
    reading: tuple[SpanReading, ...] = ()   # how a short text query was cut into rooms for this hit (attributed)


@dataclass(frozen=True)
class RoomMatch:
    """A room that matches one query part well on its own, whichever metaverse holds it."""
    part: int                         # 0-based query part it answers
    room_row: int                     # global room id in the collection
    metaverse_row: int
    room_index: int                   # 0-based inside its metaverse
    score: float                      # part · room vector (cosine), the same scale as RoomHit.score


@dataclass(frozen=True)
class SearchResult:
    query: Query
    kind: str
    k: int
    ranker: str
    parts: tuple[str, ...]            # a label per query part (the clause, "the image", a metaverse title)
    room_weight: float                # w in the served score
    hits: tuple[Hit, ...]
    room_matches: tuple[RoomMatch, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    min_score: Optional[float] = None  # hits below it were dropped (None: plain top k)
