"""Recommendations as plain data: validated request -> seeds (with why), results (with their seed), ILD, and the liked
items' own little map."""
from __future__ import annotations

import time
from numbers import Integral
from typing import Optional

from backend.recommend.seeds import intra_list_diversity, recommend
from backend.search.queries import MAX_LIKED

MODES = ("paper", "per-cluster")


class RecommendService:
    """The seeded recommender (D3.2 §4.2.2 and beyond) over a ranker's metaverse vectors."""

    def __init__(self, collection, engine, explore):
        self.collection = collection
        self.engine = engine
        self.explore = explore

    def warm(self) -> float:
        """One small recommendation per ranker, so the first person's does not pay HDBSCAN's import and numba's first
        calls (~120 ms and more); returns the seconds it took."""
        t0 = time.perf_counter()
        ids = [m.id for m in self.collection.metaverses[:6]]
        for ranker in self.engine.rankers:
            self.recommend(liked=ids, k=5, seed=0, ranker=ranker)
        return time.perf_counter() - t0

    def check(self, liked, k, d, mode: str, seed) -> tuple[list[str], int, float, str, Optional[int]]:
        liked = [liked] if isinstance(liked, str) else list(liked or [])
        liked = [str(i).strip() for i in liked if str(i).strip()]
        dupes = sorted({i for i in liked if liked.count(i) > 1})
        if dupes:
            raise ValueError(f"Liked metaverse given twice: {', '.join(dupes)}.")
        if len(liked) > MAX_LIKED:
            raise ValueError(f"{len(liked)} liked metaverses; the limit is {MAX_LIKED}.")
        for i in liked:
            self.collection.metaverse_row(i)                       # ValueError names an unknown id
        k = self.engine.check_k(k)
        try:
            d = float(d)
        except (TypeError, ValueError):
            raise ValueError(f"d must be a number between 0 and 1, not {d!r}.") from None
        if not 0.0 <= d <= 1.0 or d != d:
            raise ValueError(f"d must be between 0 and 1 (the share of k taken around a random outlier); got {d}.")
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}. Choose one of: {', '.join(MODES)}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
            try:
                seed = int(seed)
            except (TypeError, ValueError):
                raise ValueError(f"seed must be a whole number >= 0, not {seed!r}.") from None
            if seed < 0:
                raise ValueError(f"seed must be a whole number >= 0, not {seed}.")
        return liked, k, d, mode, None if seed is None else int(seed)

    def recommend(self, liked=(), k: int = 10, d: float = 0.2, mode: str = "paper", seed: Optional[int] = 0,
                  ranker: Optional[str] = None) -> dict:
        liked, k, d, mode, seed = self.check(liked, k, d, mode, seed)
        name, rk = self.engine.ranker(ranker)
        col = self.collection
        rows = [col.metaverse_row(i) for i in liked]
        if len(rows) >= col.n_metaverses:
            raise ValueError("Every metaverse is liked: there is nothing left to recommend.")
        t0 = time.perf_counter()
        labels = None
        if not rows and (name, "metaverse") in self.explore.maps:   # cold start: the stored map's clusters
            labels = self.explore.maps[(name, "metaverse")].labels
        rec = recommend(rk.metaverse_vecs, rows, k, d=d, mode=mode, seed=seed, collection_labels=labels)
        ms = round((time.perf_counter() - t0) * 1000, 2)

        def info(i: int) -> dict:
            return metaverse_info(col, i)

        out = {"liked": [{**info(r), "cluster": int(c)} for r, c in zip(rows, rec.liked_labels)] if rows else [],
               "seeds": [{**info(s.index), "cluster": s.cluster, "role": s.role, "reason": s.reason, "share": s.share}
                         for s in rec.seeds],
               "results": [{"rank": n + 1, **info(it.index), "score": round(float(it.score), 4),
                            "seed": col.metaverses[it.seed_index].id} for n, it in enumerate(rec.items)],
               "split": dict(rec.split), "ild": round(float(rec.ild), 4),
               "ignored": dict(rec.ignored),                       # parameter -> why it changed nothing here
               "params": {**{k_: v for k_, v in rec.params.items() if isinstance(v, (int, float, str, bool))},
                          "ranker": name, "liked": len(rows)},
               "timings_ms": {"recommend": ms}}
        coords = self.explore.coords_of(liked, name) if rows else None
        if coords is not None:
            out["liked_map"] = {"x": [float(x) for x in coords[:, 0]], "y": [float(y) for y in coords[:, 1]],
                                "id": liked, "cluster": [int(c) for c in rec.liked_labels]}
        return out

    def ild_of(self, ids: list[str], ranker: Optional[str] = None) -> float:
        """Intra-list diversity of any list of metaverses in a ranker's space."""
        _, rk = self.engine.ranker(ranker)
        return float(intra_list_diversity(rk.metaverse_vecs[[self.collection.metaverse_row(i) for i in ids]]))


def metaverse_info(col, i: int) -> dict:
    """A metaverse as a list item: id, title, kind, theme, room titles, whether it has images to show."""
    m = col.metaverses[i]
    return {"id": m.id, "title": m.title, "kind": m.kind, "theme": m.theme, "rooms": [r.title for r in m.rooms],
            "thumbs": bool(m.rooms and m.rooms[0].images and m.rooms[0].images[0])}
