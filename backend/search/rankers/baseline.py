"""The flat baseline (the paper's BASE row): metaverse = mean of its normalised image features, rooms likewise."""
from __future__ import annotations

import numpy as np

from backend.data.collection import Collection
from backend.encoders.base import l2_normalise
from backend.search.rankers.base import QueryVecs, Ranker


class BaselineRanker(Ranker):
    name = "baseline"

    def __init__(self, collection: Collection, encoder):
        super().__init__(collection, encoder)
        col = collection
        feats = col.image_feats                                               # (N_img, D)
        counts = np.diff(col.room_image_offsets)                              # (N_rooms,)
        room_sums = np.add.reduceat(feats, col.room_image_offsets[:-1], axis=0)  # (N_rooms, D)
        self.room_sums, self.room_counts = room_sums, counts
        self.room_vecs = l2_normalise(room_sums / counts[:, None])           # (N_rooms, D)
        mv_sums = np.add.reduceat(room_sums, col.metaverse_room_offsets[:-1], axis=0)  # (M, D)
        mv_counts = np.add.reduceat(counts, col.metaverse_room_offsets[:-1])  # (M,)
        self.metaverse_sums, self.metaverse_counts = mv_sums, mv_counts
        self.metaverse_vecs = l2_normalise(mv_sums / mv_counts[:, None])      # (M, D)

    def extended(self, collection: Collection) -> "BaselineRanker":
        return BaselineRanker(collection, self.encoder)   # means of features: milliseconds for the demo world

    def encode_text(self, text: str) -> QueryVecs:
        v = self.encoder.encode_text([text])[0]
        return QueryVecs(metaverse=v, room=v, part_labels=(text,))

    def encode_image_feature(self, image_feat: np.ndarray, label: str) -> QueryVecs:
        v = l2_normalise(np.asarray(image_feat, dtype=np.float32))
        return QueryVecs(metaverse=v, room=v, part_labels=(label,))

    def image_vecs(self, image_rows: np.ndarray) -> np.ndarray:
        return l2_normalise(self.collection.image_feats[np.asarray(image_rows, dtype=np.int64)])

    def leave_one_room_out(self, query: QueryVecs, metaverse_idx: list[int]) -> list[np.ndarray]:
        out = []
        for m in metaverse_idx:
            lo, hi = self._room_bounds(m)
            rest_sums = self.metaverse_sums[m][None, :] - self.room_sums[lo:hi]        # (R, D)
            rest_counts = self.metaverse_counts[m] - self.room_counts[lo:hi]           # (R,)
            with np.errstate(invalid="ignore", divide="ignore"):
                scores = l2_normalise(rest_sums) @ query.metaverse                     # (R,)
            scores[rest_counts == 0] = np.nan  # a one-room metaverse without its room is nothing
            out.append(scores.astype(np.float32))
        return out
