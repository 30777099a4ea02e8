"""faiss inner-product indexes over L2-normalised vectors, one per kind filter, chosen by collection size."""
from __future__ import annotations

import logging
from typing import Protocol

import faiss
import numpy as np

from backend.data.kinds import ALL, KINDS, check_kind_filter

log = logging.getLogger(__name__)

# Exact search is a few microseconds per 1k vectors; past this size a graph index keeps latency flat.
EXACT_LIMIT = 100_000


def make_faiss_index(vecs: np.ndarray) -> faiss.Index:
    """IndexFlatIP for demo-scale collections, HNSW (inner product) past EXACT_LIMIT vectors."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    d = vecs.shape[1]
    if len(vecs) <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    index.add(vecs)
    return index


class VectorIndex:
    """Top-k cosine search over a subset of rows; returns scores and the rows' global ids."""

    def __init__(self, vecs: np.ndarray, ids: np.ndarray):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.index = make_faiss_index(vecs[self.ids]) if len(self.ids) else None

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """query (D,) -> (scores (k',), global ids (k',)) best first, k' = min(k, len)."""
        k = min(k, len(self.ids))
        if k <= 0 or self.index is None:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, local = self.index.search(np.ascontiguousarray(query[None, :], dtype=np.float32), k)
        keep = local[0] >= 0
        return scores[0][keep], self.ids[local[0][keep]]


class LevelIndex(Protocol):
    """What the engine needs of the index of one ranker at one level (metaverse or room): top-k rows of the
    collection by inner product, restricted to a kind filter. faiss (KindIndex) is the default; any vector engine
    that answers this contract can stand in (Engine(index_factory=...))."""

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        """query (D,) -> (scores (k',), global row ids (k',)) best first."""
        ...


class KindIndex:
    """One VectorIndex per kind filter (backend.data.kinds.KIND_FILTERS) over the same vectors."""

    def __init__(self, vecs: np.ndarray, kinds: np.ndarray, name: str = ""):
        kinds = np.asarray(kinds)
        self.by_kind = {ALL: VectorIndex(vecs, np.arange(len(vecs)))}
        for kind in KINDS:
            self.by_kind[kind] = VectorIndex(vecs, np.flatnonzero(kinds == kind))

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        return self.by_kind[check_kind_filter(kind)].search(query, k)
