"""What every ranker provides to the search service: query vectors, collection vectors, leave-one-room-out scores."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np


@dataclass(frozen=True)
class QueryVecs:
    metaverse: np.ndarray                     # (D,) compared with metaverse_vecs
    room: np.ndarray                          # (D,) compared with room_vecs (the mean of the parts)
    room_parts: Optional[np.ndarray] = None   # (P, D): one vector per room the query names; None = [room]
    room_weight: float = 0.0                  # weight of room evidence in the served score (service._rank)

    @property
    def parts(self) -> np.ndarray:
        """(P, D) room-level query vectors."""
        return self.room[None, :] if self.room_parts is None else self.room_parts


class Ranker(Protocol):
    name: str
    metaverse_vecs: np.ndarray  # (M, D) L2-normalised
    room_vecs: np.ndarray       # (N_rooms, D) L2-normalised

    def text_query(self, text: str) -> QueryVecs: ...

    def image_feature_query(self, image_feat: np.ndarray) -> QueryVecs:
        """From one encoder image feature (D_enc,), e.g. a stored room image ("more like this")."""

    def leave_one_room_out(self, query: QueryVecs, metaverse_idx: list[int]) -> list[np.ndarray]:
        """Per metaverse, (n_rooms,) scores of the metaverse with each room left out (nan where undefined)."""
