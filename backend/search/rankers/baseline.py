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
        room_sums, counts = _room_sums(collection, 0, collection.n_rooms)   # (N_rooms, D), (N_rooms,)
        self._set_rooms(room_sums, counts, *_metaverse_sums(collection, room_sums, counts, 0))

    def _set_rooms(self, room_sums, room_counts, mv_sums, mv_counts, room_vecs=None, mv_vecs=None) -> None:
        self.room_sums, self.room_counts = room_sums, room_counts
        self.room_vecs = l2_normalise(room_sums / room_counts[:, None]) if room_vecs is None else room_vecs
        self.metaverse_sums, self.metaverse_counts = mv_sums, mv_counts
        self.metaverse_vecs = l2_normalise(mv_sums / mv_counts[:, None]) if mv_vecs is None else mv_vecs

    def extended(self, collection: Collection) -> "BaselineRanker":
        """The means of the new rows only; the existing rows' sums and vectors are carried over (a copy each, of
        N_rooms x D floats, no arithmetic), as a ranker built over `collection` would have them."""
        n_old, n_rooms_old = len(self.metaverse_vecs), len(self.room_vecs)
        assert int(collection.metaverse_room_offsets[n_old]) == n_rooms_old, "extended() appends rows"
        out = BaselineRanker.__new__(BaselineRanker)
        Ranker.__init__(out, collection, self.encoder)
        room_sums, counts = _room_sums(collection, n_rooms_old, collection.n_rooms)
        mv_sums, mv_counts = _metaverse_sums(collection, room_sums, counts, n_old)
        out._set_rooms(np.concatenate([self.room_sums, room_sums]), np.concatenate([self.room_counts, counts]),
                       np.concatenate([self.metaverse_sums, mv_sums]), np.concatenate([self.metaverse_counts, mv_counts]),
                       np.concatenate([self.room_vecs, l2_normalise(room_sums / counts[:, None])]),
                       np.concatenate([self.metaverse_vecs, l2_normalise(mv_sums / mv_counts[:, None])]))
        return out

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


def room_image_means(col: Collection, lo: int, hi: int) -> np.ndarray:
    """(R, D) rooms lo..hi-1 as the L2-normalised mean of their image features: the flat room vector."""
    sums, counts = _room_sums(col, lo, hi)
    return l2_normalise(sums / np.maximum(counts, 1)[:, None])


def _room_sums(col: Collection, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Image-feature sums and image counts of rooms lo..hi-1: (R, D), (R,)."""
    offsets = col.room_image_offsets[lo:hi + 1]
    feats = col.image_feats[offsets[0]:offsets[-1]]                                  # (N_img, D)
    if hi == lo:
        return np.zeros((0, col.image_feats.shape[1]), col.image_feats.dtype), np.zeros(0, np.int64)
    return np.add.reduceat(feats, offsets[:-1] - offsets[0], axis=0), np.diff(offsets)


def _metaverse_sums(col: Collection, room_sums, room_counts, m_lo: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums and image counts of metaverses m_lo.. from their rooms' (room_sums starts at metaverse m_lo's first room)."""
    offsets = col.metaverse_room_offsets[m_lo:]
    starts = offsets[:-1] - offsets[0]
    if len(starts) == 0:
        return np.zeros((0, room_sums.shape[1]), room_sums.dtype), np.zeros(0, room_counts.dtype)
    return np.add.reduceat(room_sums, starts, axis=0), np.add.reduceat(room_counts, starts)                 # (M, D), (M,)
