"""faiss inner-product indexes over L2-normalised vectors, one per kind over disjoint rows, chosen by size.

Up to EXACT_LIMIT vectors an index is exact (IndexFlatIP). Past it, IVF-PQ: the vectors are assigned to `nlist`
k-means lists trained on a sample, and stored as 32-byte product-quantised residuals; a search scans `nprobe` lists
for a short list of max(REFINE x k, MIN_SHORTLIST) rows and re-ranks it exactly from the float vectors the caller already holds (the
ranker's arrays), so no second float copy is made. Measured on synthetic collections shaped like the demo world
(backend/data/synthetic_scale.py, `python -m backend bench-scale`, BENCHMARKS.md "Scale"): at 10^6 metaverses
(~6·10^6 rooms) an index search takes 1-2 ms and the served top-10 loses at most 0.01 of recall@10 against the same
steps run on brute-force top lists.
HNSW was measured and not taken: ~9k inserts/s at M=32 on 2 cores (over 11 min for 6·10^6 rooms) and a full float
copy plus graph (~7.5 GB at 6·10^6 x 256-d) on top of the vectors the ranker holds.
"""
from __future__ import annotations

import logging
from typing import Optional, Protocol

import faiss
import numpy as np

from backend.data.kinds import ALL, KINDS, check_kind_filter

log = logging.getLogger(__name__)

# Exact search costs ~40 µs per 1k vectors (256-d, one core): at this size a top list takes ~4 ms and the copy
# faiss keeps is 100 MB; past it, IVF-PQ keeps a search at 1-2 ms and memory at ~40 B per vector.
EXACT_LIMIT = 100_000
MIN_APPROXIMATE = 1_000     # below this an approximate index is never built, even when asked for
PQ_BYTES = 32               # product-quantiser sub-vectors (8 bits each) per vector: 8 dims each at 256-d
NPROBE = 16                 # lists scanned per search
REFINE = 4                  # short list = max(REFINE x k, MIN_SHORTLIST) rows, re-ranked exactly
MIN_SHORTLIST = 1_000
TRAIN_PER_LIST = 39         # k-means training rows per list (faiss's minimum)
PQ_TRAIN_PER_CENTROID = 64  # rows per PQ centroid (256 per sub-quantiser)
KMEANS_ITERATIONS = 10
ADD_CHUNK = 1 << 18         # rows copied and added at a time (bounds the temporary copy)
# A typed query's room parts (about 12) are searched in one call; faiss takes its matrix-product path from this many
# queries instead of 20: 12 parts x 3,300 rooms x 640-d, k=256, one thread, 2.9 ms against 4.4 (2026-12-06).
faiss.cvar.distance_compute_blas_threshold = 2


def ivf_nlist(n: int) -> int:
    """Lists for n vectors: the power of two nearest sqrt(n) / 2, at most 4096 and at most n / TRAIN_PER_LIST.
    Adding vectors costs n x nlist dot products (the coarse assignment): at 4.6M rooms, 1024 lists built in 70 s
    against 110 s for 2048 with the same recall of the served lists (0.93 of the exact top 256, 0.99 of the top 10)."""
    target = 2 ** int(round(np.log2(max(np.sqrt(n) / 2, 1.0))))
    return int(max(1, min(target, 4096, n // TRAIN_PER_LIST)))


def _pq_m(d: int) -> int:
    """Sub-quantisers: PQ_BYTES if it divides d, else the largest divisor of d below it."""
    return next(m for m in range(min(PQ_BYTES, d), 0, -1) if d % m == 0)


def make_faiss_index(vecs: np.ndarray, rows: Optional[np.ndarray] = None,
                     approximate: Optional[bool] = None) -> faiss.Index:
    """An index over vecs[rows] (local ids 0..len(rows)-1): IndexFlatIP up to EXACT_LIMIT rows, IVF-PQ past it
    (L2 on unit vectors ranks like inner product; VectorIndex re-ranks its short list exactly). approximate=True /
    False forces the choice (an approximate index needs MIN_APPROXIMATE rows)."""
    rows = np.arange(len(vecs)) if rows is None else np.asarray(rows, dtype=np.int64)
    n, d = len(rows), vecs.shape[1]
    if approximate is None:
        approximate = n > EXACT_LIMIT
    if not approximate or n < MIN_APPROXIMATE:
        index = faiss.IndexFlatIP(d)
        index.add(np.ascontiguousarray(vecs[rows], dtype=np.float32))
        return index
    nlist = ivf_nlist(n)
    index = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, nlist, _pq_m(d), 8)   # no polysemous training (slow)
    index.cp.niter = index.pq.cp.niter = KMEANS_ITERATIONS
    index.pq.cp.max_points_per_centroid = PQ_TRAIN_PER_CENTROID
    rng = np.random.default_rng(0)
    n_train = min(n, max(nlist * TRAIN_PER_LIST, 256 * PQ_TRAIN_PER_CENTROID))  # the PQ's 256 centroids too
    sample = rows[np.sort(rng.choice(n, n_train, replace=False))] if n_train < n else rows
    index.train(np.ascontiguousarray(vecs[sample], dtype=np.float32))
    for a in range(0, n, ADD_CHUNK):
        index.add(np.ascontiguousarray(vecs[rows[a:a + ADD_CHUNK]], dtype=np.float32))
    index.nprobe = min(NPROBE, nlist)
    return index


def describe_index(index: Optional[faiss.Index]) -> dict:
    """What an index is, for reports: type and parameters."""
    if index is None:
        return {"type": "empty"}
    if isinstance(index, faiss.IndexIVFPQ):
        return {"type": "IVF-PQ+refine", "n": int(index.ntotal), "nlist": int(index.nlist),
                "nprobe": int(index.nprobe), "pq_bytes": int(index.pq.M),
                "shortlist": f"max({REFINE} k, {MIN_SHORTLIST})"}
    return {"type": "flat", "n": int(index.ntotal)}


class VectorIndex:
    """Top-k cosine search over a subset of rows; returns scores and the rows' global ids. Scores are exact
    either way: an approximate index's short list is re-ranked from `vecs`, which must stay unchanged."""

    def __init__(self, vecs: np.ndarray, ids: np.ndarray, approximate: Optional[bool] = None):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.index = make_faiss_index(vecs, self.ids, approximate) if len(self.ids) else None
        self.approximate = isinstance(self.index, faiss.IndexIVF)
        self._vecs = vecs if self.approximate else None

    def __len__(self) -> int:
        return len(self.ids)

    def describe(self) -> dict:
        return describe_index(self.index)

    def appended(self, vecs: np.ndarray, new_rows: np.ndarray) -> "VectorIndex":
        """This index plus vecs[new_rows] (vecs: the grown array, its earlier rows unchanged), as a new index; this one
        is left as it is for searches in flight. The faiss index is copied (clone_index: stored codes, no training or
        list assignment redone) and given only the new vectors."""
        new_rows = np.asarray(new_rows, np.int64)
        if not len(new_rows):
            return self                # rows of this kind unchanged; an approximate one re-ranks from vecs[ids]
        if self.index is None:
            return VectorIndex(vecs, new_rows)
        index = faiss.clone_index(self.index)
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = self.index.nprobe
        index.add(np.ascontiguousarray(vecs[new_rows], dtype=np.float32))
        out = VectorIndex.__new__(VectorIndex)
        out.ids = np.concatenate([self.ids, new_rows])
        out.index, out.approximate = index, self.approximate
        out._vecs = vecs if self.approximate else None
        return out

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """query (D,) -> (scores (k',), global ids (k',)) best first, k' = min(k, len)."""
        k = min(k, len(self.ids))
        if k <= 0 or self.index is None:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query[None, :], dtype=np.float32)
        if not self.approximate:
            return self._exact(q, k)[0]
        _, local = self.index.search(q, min(max(REFINE * k, MIN_SHORTLIST), len(self.ids)))
        ids = self.ids[local[0][local[0] >= 0]]
        scores = self._vecs[ids] @ q[0]                                      # exact, from the held vectors
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order], ids[order]

    def search_many(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """queries (Q, D) -> per query what search gives; an exact index answers them in one faiss call."""
        k = min(k, len(self.ids))
        if self.approximate or self.index is None or k <= 0 or len(queries) < 2:
            return [self.search(q, k) for q in queries]
        return self._exact(np.ascontiguousarray(queries, dtype=np.float32), k)

    def _exact(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(Q, D) float32 through the exact index -> per query (scores, global ids), faiss's -1 padding dropped."""
        scores, local = self.index.search(queries, k)
        keep = local >= 0
        return [(scores[i][keep[i]], self.ids[local[i][keep[i]]]) for i in range(len(queries))]


class LevelIndex(Protocol):
    """What the engine needs of the index of one ranker at one level (metaverse or room): top-k rows of the
    collection by inner product, restricted to a kind filter. faiss (KindIndex) is the default; any vector engine
    that answers this contract can stand in (Engine(index_factory=...))."""

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        """query (D,) -> (scores (k',), global row ids (k',)) best first."""
        ...


def search_many(index: LevelIndex, queries: np.ndarray, k: int, kind: str = ALL) -> list[tuple[np.ndarray, np.ndarray]]:
    """Top lists of several queries (Q, D): in one request where the index takes a batch (faiss: one call per kind;
    Milvus: one round trip instead of Q), else one search each."""
    many = getattr(index, "search_many", None)
    return many(queries, k, kind) if many is not None else [index.search(q, k, kind) for q in queries]


class KindIndex:
    """One VectorIndex per kind over disjoint rows (memory: one index's worth in all); the "all" filter merges the
    kinds' top lists (each exact-scored, so the merge is their union's top k)."""

    def __init__(self, vecs: np.ndarray, kinds: np.ndarray, name: str = "", approximate: Optional[bool] = None):
        kinds = np.asarray(kinds)
        self.name = name
        self.by_kind = {kind: VectorIndex(vecs, np.flatnonzero(kinds == kind), approximate) for kind in KINDS}
        other = np.flatnonzero(~np.isin(kinds, KINDS))                        # none in a validated collection
        self._all = [*self.by_kind.values(), *([VectorIndex(vecs, other, approximate)] if len(other) else [])]

    def describe(self) -> dict:
        return {kind: index.describe() for kind, index in self.by_kind.items()}

    def appended(self, vecs: np.ndarray, new_kinds: np.ndarray) -> Optional["KindIndex"]:
        """This index plus the last len(new_kinds) rows of vecs (the rows before them are the ones it holds), each
        in its kind's index, as a new KindIndex; None when a new row's kind has none (build a new index then)."""
        new_kinds = np.asarray(new_kinds)
        n_old = len(vecs) - len(new_kinds)
        if not np.isin(new_kinds, KINDS).all():
            return None
        out = KindIndex.__new__(KindIndex)
        out.name = self.name
        out.by_kind = {kind: index.appended(vecs, n_old + np.flatnonzero(new_kinds == kind))
                       for kind, index in self.by_kind.items()}
        out._all = [*out.by_kind.values(), *self._all[len(self.by_kind):]]
        return out

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        if check_kind_filter(kind) != ALL:
            return self.by_kind[kind].search(query, k)
        return _merge([index.search(query, k) for index in self._all if len(index)], k)

    def search_many(self, queries: np.ndarray, k: int, kind: str = ALL) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each query's search(q, k, kind), with one faiss call per kind index for all of them."""
        if check_kind_filter(kind) != ALL:
            return self.by_kind[kind].search_many(queries, k)
        per_index = [index.search_many(queries, k) for index in self._all if len(index)]
        return [_merge([found[q] for found in per_index], k) for q in range(len(queries))]


def top_lists(scores: np.ndarray, k: int, rows: Optional[np.ndarray] = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(N, Q) every row's score for each of Q queries, a product already taken -> per query (scores (k',), row ids
    (k',)) best first, ties by row, over `rows` only when given (a kind's): what an exact index answers, without
    multiplying again."""
    sub = scores if rows is None else scores[rows]                                     # (N', Q)
    ids = np.arange(len(scores)) if rows is None else np.asarray(rows, np.int64)
    k = min(k, len(sub))
    if k <= 0:
        return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in range(scores.shape[1])]
    best = np.argpartition(-sub, k - 1, axis=0)[:k] if k < len(sub) else \
        np.broadcast_to(np.arange(len(sub))[:, None], sub.shape)                       # (k, Q) unordered
    out = []
    for q in range(sub.shape[1]):
        s, r = sub[best[:, q], q], ids[best[:, q]]
        order = np.lexsort((r, -s))
        out.append((s[order], r[order]))
    return out


def _merge(found: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top lists of disjoint rows -> their union's top k, best first, ties by row."""
    if not found:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    scores = np.concatenate([s for s, _ in found])
    ids = np.concatenate([i for _, i in found])
    order = np.lexsort((ids, -scores))[:k]
    return scores[order], ids[order]
