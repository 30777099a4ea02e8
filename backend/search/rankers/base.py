"""What every ranker provides to the engine: query encoding for every query type, collection vectors, image-level
vectors and leave-one-room-out scores."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional

import numpy as np

from backend.data.collection import Collection
from backend.search.lattice import SpanTable
from backend.encoders.base import l2_normalise
from backend.search.queries import ImageQuery, MetaverseQuery, Query, StoredImageQuery, TextQuery


@dataclass(frozen=True)
class QueryVecs:
    metaverse: np.ndarray                     # (D,) compared with metaverse_vecs
    room: np.ndarray                          # (D,) compared with room_vecs (the mean of the parts)
    room_parts: Optional[np.ndarray] = None   # (P, D): one vector per room the query names; None = [room]
    room_weight: float = 0.0                  # w: weight of room evidence in the served score (engine.score)
    part_labels: tuple[str, ...] = ()         # a label per part, for grouping room matches
    exclude: tuple[int, ...] = ()             # metaverse rows never returned (the query's own metaverses)
    spans: Optional[SpanTable] = None         # parts read as a span lattice: parts[:n_clauses] are the clauses,
                                              # the rest their sub-spans; None = every part is a room of its own
    room_part_scores: Optional[np.ndarray] = None   # (N_rooms, P) every room · every part, when the ranker has
                                                    # already taken that product (engine.score_candidates reuses it)

    @property
    def n_shown(self) -> int:
        """Parts a person sees (labels, room-match groups): the clauses; sub-spans only help scoring."""
        return len(self.parts) if self.spans is None else self.spans.n_shown

    def shown_part(self, p: int) -> int:
        """The shown part a (sub-span) part belongs to."""
        return int(p) if self.spans is None else self.spans.shown_part(p)

    def room_evidence(self, best: np.ndarray) -> np.ndarray:
        """(C, P) best room score per candidate and part -> (C,) room evidence: the mean over parts, or the best cut
        of the span lattice (backend/search/lattice.py)."""
        return best.mean(1) if self.spans is None else self.spans.evidence(best)

    @property
    def parts(self) -> np.ndarray:
        """(P, D) room-level query vectors."""
        return self.room[None, :] if self.room_parts is None else self.room_parts

    @property
    def labels(self) -> tuple[str, ...]:
        n = self.n_shown
        return self.part_labels if len(self.part_labels) == n else tuple(f"part {i + 1}" for i in range(n))


class Ranker(ABC):
    """Maps queries and the collection into one space. Subclasses say how text and one image are encoded, how single
    images land in the room space, and what a metaverse scores with one room left out."""

    name: str
    metaverse_vecs: np.ndarray  # (M, D) L2-normalised
    room_vecs: np.ndarray       # (N_rooms, D) L2-normalised

    def __init__(self, collection: Collection, encoder):
        self.collection = collection
        self.encoder = encoder

    # ---- one entry point for every query type ------------------------------------------------------------------
    def encode(self, query: Query) -> QueryVecs:
        if isinstance(query, TextQuery):
            return self.encode_text(query.text)
        if isinstance(query, ImageQuery):
            return self.encode_image_feature(self.encoder.encode_image([query.image])[0], "the uploaded image")
        if isinstance(query, StoredImageQuery):
            col = self.collection
            m = col.metaverse_row(query.metaverse_id)
            row = col.image_row(m, query.room - 1, query.image - 1)
            label = f"image {query.image} of room {query.room} of {col.metaverses[m].title}"
            return self.encode_image_feature(col.image_feats[row], label)
        if isinstance(query, MetaverseQuery):
            return self.encode_metaverses([self.collection.metaverse_row(i) for i in query.metaverse_ids])
        raise TypeError(f"unsupported query type {type(query).__name__}")

    def encode_metaverses(self, rows: list[int]) -> QueryVecs:
        """Stored metaverses as the query: the mean of their metaverse vectors, and of their room vectors for the
        room level; they are excluded from the hits."""
        rows = [int(r) for r in rows]
        metaverse = l2_normalise(self.metaverse_vecs[rows].mean(0))                         # (D,)
        room_rows = np.concatenate([np.arange(*self._room_bounds(m)) for m in rows])
        room = l2_normalise(self.room_vecs[room_rows].mean(0))                              # (D,)
        titles = [self.collection.metaverses[m].title for m in rows]
        label = titles[0] if len(titles) == 1 else f"{len(titles)} metaverses"
        return QueryVecs(metaverse=metaverse, room=room, part_labels=(label,), exclude=tuple(rows))

    def _room_bounds(self, m: int) -> tuple[int, int]:
        offsets = self.collection.metaverse_room_offsets
        return int(offsets[m]), int(offsets[m + 1])

    # ---- what each ranker defines ------------------------------------------------------------------------------
    @abstractmethod
    def encode_text(self, text: str) -> QueryVecs: ...

    @abstractmethod
    def encode_image_feature(self, image_feat: np.ndarray, label: str) -> QueryVecs:
        """From one encoder image feature (D_enc,): an upload after encoding, or a stored image."""

    @abstractmethod
    def image_vecs(self, image_rows: np.ndarray) -> np.ndarray:
        """(N,) global image rows -> (N, D) L2-normalised vectors in the room-level space (each image a room)."""

    def warm_caches(self) -> None:
        """Precompute whatever does not depend on the query (a no-op where nothing is cached)."""

    @abstractmethod
    def extended(self, collection: Collection) -> "Ranker":
        """This ranker over `collection`: this ranker's own collection with rows appended (added metaverses), whose
        vectors are computed here; the existing rows keep theirs."""

    @abstractmethod
    def leave_one_room_out(self, query: QueryVecs, metaverse_idx: list[int]) -> list[np.ndarray]:
        """Per metaverse, (n_rooms,) scores of the metaverse with each room left out (nan where undefined)."""
