"""The search engine: encode → candidates → score → attribute, each a named, timed step returning typed hits."""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from backend.data.collection import Collection
from backend.data.kinds import ALL, check_kind_filter
from backend.search.attribution import room_shares
from backend.search.hits import Hit, RoomHit, RoomMatch, SearchResult, SpanReading
from backend.search.index import KindIndex, LevelIndex, search_many, top_lists
from backend.search.queries import MAX_K, Query
from backend.search.rankers.base import QueryVecs, Ranker

log = logging.getLogger(__name__)

CANDIDATES = 256    # per list: metaverses, and rooms per query part, rescored exactly when room evidence is mixed in
MAX_CANDIDATES = 4096   # lists grow x4 up to this while an unseen metaverse could still outscore the k-th hit
ROOM_MATCHES = 8    # room-level matches kept per query part
# A remote index's two requests per query (metaverses, room parts) wait on the network, not the CPU: send them at once.
_REMOTE_REQUESTS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="remote-index")


@dataclass(frozen=True)
class Candidates:
    """Metaverses to score exactly, and the room lists they came from."""
    rows: np.ndarray                                  # (C,) metaverse rows
    part_rooms: list[tuple[np.ndarray, np.ndarray]]   # per query part: (scores, global room ids) best first
    unseen_bound: float = -np.inf   # the best served score a metaverse in no list could have (threshold algorithm)


@dataclass(frozen=True)
class Scored:
    """Exact scores of every candidate; room-part scores kept so attribution does not recompute them."""
    rows: np.ndarray            # (C,) candidates, best first
    served: np.ndarray          # (C,) (metaverse + w * room_evidence) / (1 + w)
    metaverse: np.ndarray       # (C,)
    room_evidence: np.ndarray   # (C,) mean over parts of the best room's score
    room_starts: np.ndarray     # (C,) offset of each candidate's rooms in part_scores
    room_counts: np.ndarray     # (C,)
    part_scores: np.ndarray     # (sum of room_counts, P) every candidate room · every query part


class Timer:
    """Milliseconds per named step."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t0 = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.ms[name] = round(self.ms.get(name, 0.0) + (time.perf_counter() - t) * 1000, 2)

    def total(self) -> dict[str, float]:
        return {**self.ms, "total": round((time.perf_counter() - self._t0) * 1000, 2)}


# The two search steps as functions of arrays and indexes, so the engine and the scale bench (backend/ops/bench_scale.py)
# run the same code.
def find_candidates(metaverse_index: LevelIndex, room_index: LevelIndex, room_owner: np.ndarray, qv: QueryVecs,
                    k: int, kind: str, n_list: int = CANDIDATES,
                    room_kinds: Optional[np.ndarray] = None) -> Candidates:
    """The top lists: metaverses by the metaverse-level score, and rooms by each query part (whose owners
    join the candidates when room evidence counts), n_list long; and the bound on what a metaverse in none of them
    can score: its metaverse score is at most the metaverse list's last, its best room for part p at most part p's
    last (a list shorter than asked holds everything of its kind). When the ranker has already scored every room
    against every part (qv.room_part_scores, a typed query's reading), the room lists are read from that product
    (exact, as the flat index would give them; room_kinds (N_rooms,) applies a kind filter), not searched again."""
    n_rooms = n_list if qv.room_weight else ROOM_MATCHES
    n_metaverses = max(k, n_list) if qv.room_weight else k

    def room_lists() -> list[tuple[np.ndarray, np.ndarray]]:
        if qv.room_part_scores is None:
            return search_many(room_index, qv.parts, n_rooms, kind)   # one request for all parts
        if kind != ALL and room_kinds is None:
            raise ValueError("a kind filter on a reused room product needs room_kinds")
        rows = None if kind == ALL else np.flatnonzero(room_kinds == kind)
        return top_lists(qv.room_part_scores, n_rooms, rows)

    if getattr(metaverse_index, "remote", False):        # Milvus: both requests in flight together
        mv_future = _REMOTE_REQUESTS.submit(metaverse_index.search, qv.metaverse, n_metaverses + len(qv.exclude), kind)
        part_rooms = room_lists()
        mv_scores, mv_rows = mv_future.result()
    else:
        part_rooms = room_lists()
        mv_scores, mv_rows = metaverse_index.search(qv.metaverse, n_metaverses + len(qv.exclude), kind)
    rows = mv_rows
    bound = -np.inf
    if qv.room_weight:
        rows = np.union1d(mv_rows, room_owner[np.concatenate([ids for _, ids in part_rooms])])
        if len(mv_rows) == n_metaverses + len(qv.exclude):       # else every metaverse of the kind is a candidate
            part_last = np.array([[float(sc[-1]) if len(sc) == n_rooms else -1.0 for sc, _ in part_rooms]])
            w = qv.room_weight
            bound = (float(mv_scores[-1]) + w * float(qv.room_evidence(part_last)[0])) / (1 + w)
    if qv.exclude:
        rows = rows[~np.isin(rows, np.asarray(qv.exclude))]
    return Candidates(rows=np.asarray(rows, np.int64), part_rooms=part_rooms, unseen_bound=bound)


def find_and_score(metaverse_index: LevelIndex, room_index: LevelIndex, room_owner: np.ndarray,
                   metaverse_vecs: np.ndarray, room_vecs: np.ndarray, metaverse_room_offsets: np.ndarray,
                   qv: QueryVecs, k: int, kind: str,
                   room_kinds: Optional[np.ndarray] = None) -> tuple[Candidates, "Scored"]:
    """Candidates and their exact scores, the lists lengthened (x4, up to MAX_CANDIDATES) until no metaverse outside
    them could beat the k-th served score: a query whose parts each match many rooms weakly (a game-like query
    filtered to museums) has its best metaverses deep in every list and in none of the first 256."""
    n_list = CANDIDATES
    while True:
        cands = find_candidates(metaverse_index, room_index, room_owner, qv, k, kind, n_list, room_kinds)
        scored = score_candidates(metaverse_vecs, room_vecs, metaverse_room_offsets, qv, cands)
        kth = float(scored.served[k - 1]) if len(scored.served) >= k else -np.inf
        if kth >= cands.unseen_bound or n_list >= MAX_CANDIDATES:
            return cands, scored
        n_list *= 4


def score_candidates(metaverse_vecs: np.ndarray, room_vecs: np.ndarray, metaverse_room_offsets: np.ndarray,
                     qv: QueryVecs, cands: Candidates) -> Scored:
    """Exact served score of every candidate: (q·metaverse + w · room evidence) / (1 + w), on the cosine scale; the
    room evidence is the mean over parts p of max over rooms r of p·r, or the best cut of a span lattice
    (qv.room_evidence). Sorted best first (stable: ties keep the top lists' order)."""
    rows = cands.rows
    offsets = metaverse_room_offsets
    starts, counts = offsets[rows], offsets[rows + 1] - offsets[rows]                 # (C,), (C,)
    local_starts = np.cumsum(counts) - counts                                         # (C,)
    room_rows = np.repeat(starts - local_starts, counts) + np.arange(counts.sum())    # every candidate room
    part_scores = (qv.room_part_scores[room_rows] if qv.room_part_scores is not None
                   else room_vecs[room_rows] @ qv.parts.T)                            # (N, P)
    if len(rows):
        room_evidence = qv.room_evidence(np.maximum.reduceat(part_scores, local_starts, axis=0))   # (C,)
    else:
        room_evidence = np.zeros(0, np.float32)
    metaverse = metaverse_vecs[rows] @ qv.metaverse                                   # (C,)
    w = qv.room_weight
    served = (metaverse + w * room_evidence) / (1 + w)                               # (C,)
    order = np.argsort(-served, kind="stable")
    return Scored(rows=rows[order], served=served[order], metaverse=metaverse[order],
                  room_evidence=room_evidence[order], room_starts=local_starts[order],
                  room_counts=counts[order], part_scores=part_scores)


class Engine:
    """Ranks metaverses of one collection with any of its rankers. Pure: no I/O, no JSON."""

    def __init__(self, collection: Collection, rankers: dict[str, Ranker], default_ranker: str,
                 index_factory: Optional[Callable[[np.ndarray, np.ndarray, str], LevelIndex]] = None):
        """index_factory(vecs, kinds, name) -> the top-k index of one ranker at one level (name
        "<ranker>_metaverse" or "<ranker>_room"); default: in-process faiss (backend.search.index.KindIndex)."""
        if default_ranker not in rankers:
            raise ValueError(f"default ranker {default_ranker!r} is not one of {', '.join(rankers)}")
        self.collection = collection
        self.rankers = rankers
        self.default_ranker = default_ranker
        self.index_factory = index_factory or KindIndex
        kinds = np.array([m.kind for m in collection.metaverses])
        self.room_owner = collection.room_to_metaverse()                                   # (N_rooms,)
        self.room_kinds = kinds[self.room_owner]                                           # (N_rooms,)
        self._metaverse_index = {n: self.index_factory(r.metaverse_vecs, kinds, f"{n}_metaverse")
                                 for n, r in rankers.items()}
        self._room_index = {n: self.index_factory(r.room_vecs, self.room_kinds, f"{n}_room")
                            for n, r in rankers.items()}

    # ---- checks ------------------------------------------------------------------------------------------------
    def ranker(self, name: Optional[str]) -> tuple[str, Ranker]:
        name = name or self.default_ranker
        if name not in self.rankers:
            raise ValueError(f"Unknown ranker {name!r}. Available: {', '.join(self.rankers)}.")
        return name, self.rankers[name]

    @staticmethod
    def check_k(k) -> int:
        if isinstance(k, bool) or k is None or (isinstance(k, float) and not k.is_integer()):
            raise ValueError(f"k must be a whole number between 1 and {MAX_K}, not {k!r}.")
        try:
            k_int = int(k)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"k must be a whole number between 1 and {MAX_K}, not {k!r}.") from None
        if not 1 <= k_int <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}; got {k_int}.")
        return k_int

    # ---- the whole search --------------------------------------------------------------------------------------
    @staticmethod
    def check_min_score(min_score) -> Optional[float]:
        if min_score is None or min_score == "":
            return None
        try:
            v = float(min_score)
        except (TypeError, ValueError):
            raise ValueError(f"min_score must be a number between -1 and 1, not {min_score!r}.") from None
        if isinstance(min_score, bool) or not -1.0 <= v <= 1.0:
            raise ValueError(f"min_score must be between -1 and 1 (scores are cosines); got {min_score!r}.")
        return v

    def search(self, query: Query, kind: str = "all", k: int = 10, ranker: Optional[str] = None,
               attribute: bool = True, min_score: Optional[float] = None) -> SearchResult:
        """Top-k hits; with min_score, only hits whose served score reaches it (k is then the cap)."""
        kind, k, min_score = check_kind_filter(kind), self.check_k(k), self.check_min_score(min_score)
        name, rk = self.ranker(ranker)
        timer = Timer()
        with timer.step("encode"):
            qv = rk.encode(query)
        with timer.step("search"):
            cands, scored = find_and_score(self._metaverse_index[name], self._room_index[name], self.room_owner,
                                           rk.metaverse_vecs, rk.room_vecs, self.collection.metaverse_room_offsets,
                                           qv, k, kind, self.room_kinds)
        n = k if min_score is None else min(k, int(np.sum(scored.served >= min_score)))   # served is sorted
        with timer.step("attribution"):
            hits = self.attribute(rk, qv, scored, n) if attribute else self.bare_hits(scored, n)
        matches = self.room_matches(cands, qv.exclude, min_score, qv.n_shown)
        return SearchResult(query=query, kind=kind, k=k, ranker=name, parts=qv.labels, room_weight=qv.room_weight,
                            hits=tuple(hits), room_matches=tuple(matches), timings_ms=timer.total(),
                            min_score=min_score)

    def rank(self, query: Query, kind: str = "all", k: int = 10, ranker: Optional[str] = None,
             attribute: bool = True, min_score: Optional[float] = None) -> list[Hit]:
        """Top-k hits of one query, best first."""
        return list(self.search(query, kind, k, ranker, attribute, min_score).hits)

    # ---- steps -------------------------------------------------------------------------------------------------
    def bare_hits(self, scored: Scored, k: int) -> list[Hit]:
        return [Hit(rank=i + 1, row=int(scored.rows[i]), score=float(scored.served[i]),
                    metaverse_score=float(scored.metaverse[i]), room_evidence=None, best_room=0)
                for i in range(min(k, len(scored.rows)))]

    def attribute(self, rk: Ranker, qv: QueryVecs, scored: Scored, k: int) -> list[Hit]:
        """Per room of each hit: its score (from the scoring step), share of the match (room-level softmax and
        leave-one-room-out drop) and, inside the room, every image's score against the part the room answers. A query
        read as a span lattice is explained by the hit's best cut: a room's score is its best against the cut's spans
        (a span the cut left out, "hues tangerine", explains nothing)."""
        n = min(k, len(scored.rows))
        top = [int(m) for m in scored.rows[:n]]
        loo = rk.leave_one_room_out(qv, top) if n else []
        col = self.collection
        hit_scores = [scored.part_scores[a:a + c] for a, c in                         # per hit (R, P)
                      zip(scored.room_starts[:n].tolist(), scored.room_counts[:n].tolist())]
        cuts = [np.arange(ps.shape[1]) for ps in hit_scores]                          # the parts that explain
        cut_hits = [i for i, ps in enumerate(hit_scores) if len(ps)] if qv.spans is not None else []
        if cut_hits:
            for i, cut in zip(cut_hits, qv.spans.best_cuts(np.stack([hit_scores[i].max(0) for i in cut_hits]))):
                cuts[i] = np.asarray(cut, np.int64)
        room_parts = [used[ps[:, used].argmax(1)] for ps, used in zip(hit_scores, cuts)]   # per hit (R,)
        image_offsets = col.room_image_offsets
        image_counts, image_rows, image_parts = [], [], []
        for m, parts in zip(top, room_parts):
            rooms = col.room_range(m)
            bounds = image_offsets[rooms.start:rooms.stop + 1]                         # a metaverse's images are contiguous
            image_counts.append(np.diff(bounds).tolist())
            image_rows.append(np.arange(bounds[0], bounds[-1]))
            image_parts.append(np.repeat(parts, image_counts[-1]))
        if image_rows:
            rows = np.concatenate(image_rows)
            image_scores = np.einsum("nd,nd->n", rk.image_vecs(rows), qv.parts[np.concatenate(image_parts)]).tolist()
        else:
            image_scores = []
        hits, cursor = [], 0
        for i, m in enumerate(top):
            ps, used, parts = hit_scores[i], cuts[i], room_parts[i]
            room_scores = ps[:, used].max(1)                                           # (R,)
            metaverse_score = float(scored.metaverse[i])
            shares = room_shares(room_scores, metaverse_score, loo[i])
            contribution, drop = shares["contribution"].tolist(), shares["occlusion_drop"].tolist()
            rooms = []
            for local, (score, part, n_img) in enumerate(zip(room_scores.tolist(), parts.tolist(), image_counts[i])):
                imgs = tuple(image_scores[cursor:cursor + n_img])
                cursor += n_img
                rooms.append(RoomHit(index=local, score=score, part=qv.shown_part(part), contribution=contribution[local],
                                     occlusion_drop=drop[local], image_scores=imgs,
                                     best_image=imgs.index(max(imgs)) if n_img else None))
            hits.append(Hit(rank=i + 1, row=m, score=float(scored.served[i]), metaverse_score=metaverse_score,
                            room_evidence=float(scored.room_evidence[i]) if qv.room_weight else None,
                            best_room=int(np.argmax(shares["contribution"])), rooms=tuple(rooms),
                            reading=self.reading(qv, ps, used)))
        return hits

    @staticmethod
    def reading(qv: QueryVecs, ps: np.ndarray, cut: np.ndarray) -> tuple[SpanReading, ...]:
        """(R, P) one hit's room x part scores and its best cut -> each span of the cut with the room that answers
        it; empty unless the query was read as a span lattice."""
        if qv.spans is None or not len(ps):
            return ()
        best, room = ps.max(0), ps.argmax(0)                                              # (P,), (P,)
        return tuple(SpanReading(text=qv.spans.text[p], part=qv.shown_part(p), room=int(room[p]),
                                 score=float(best[p])) for p in cut)

    def room_matches(self, cands: Candidates, exclude: tuple[int, ...] = (),
                     min_score: Optional[float] = None, n_shown: Optional[int] = None) -> list[RoomMatch]:
        """The best ROOM_MATCHES rooms of each shown query part (not of the query's own metaverses; with min_score, only
        rooms reaching it), grouped by part, each group best first."""
        offsets = self.collection.metaverse_room_offsets
        out = []
        for p, (scores, ids) in enumerate(cands.part_rooms[:n_shown]):
            for s, r in zip(scores[:ROOM_MATCHES], ids[:ROOM_MATCHES]):
                m = int(self.room_owner[r])
                if m in exclude or (min_score is not None and s < min_score):
                    continue
                out.append(RoomMatch(part=p, room_row=int(r), metaverse_row=m, room_index=int(r - offsets[m]),
                                     score=float(s)))
        return out

