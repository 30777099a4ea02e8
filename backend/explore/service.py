"""Serving the stored maps: points with their clusters and labels, a query placed among its hits, cluster members."""
from __future__ import annotations

from typing import Optional

import numpy as np

from backend.data.kinds import check_kind_filter
from backend.explore.bundle_maps import LEVELS, load_map
from backend.explore.maps import MapData
from backend.recommend.service import metaverse_info
from backend.search.queries import image_key
from backend.search.results import thumb_url

PLACE_TEMPERATURE = 0.02   # softmax over hit scores when placing a query among its hits


class ExploreService:
    """The bundle's maps (built by `python -m backend build maps`), as plain data for the Explore tab and the API."""

    def __init__(self, bundle, rankers: list[str], default_ranker: str):
        self.collection = bundle.collection
        self.default_ranker = default_ranker
        self.maps: dict[tuple[str, str], MapData] = {}
        for ranker in rankers:
            for level in LEVELS:
                m = load_map(bundle, ranker, level)
                if m is not None:
                    self.maps[(ranker, level)] = m
        self._map_json: dict[tuple[str, str, str], dict] = {}   # maps never change while serving: build each once
        self._unit: dict = {}   # {(ranker, level): Rows of the mapped vectors' unit rows}, kept for placing additions
        self.agreement = {r: {lvl: e.get("agreement") for lvl, e in by.items()}
                          for r, by in bundle.manifest.get("maps", {}).items()}

    def extended(self, collection, rankers: dict) -> "ExploreService":
        """The same maps over `collection` (the bundle's rows plus added ones): each added metaverse (and room)
        placed by its neighbours in its ranker's space (explore.placement) until the next `build maps`."""
        import copy

        from backend.explore.maps import unit_rows
        from backend.explore.placement import place_new_points
        from backend.grow.rows import Rows
        out = copy.copy(self)
        out.collection, out._map_json, out.maps, out._unit = collection, {}, {}, {}
        for key, m in self.maps.items():
            ranker, level = key
            vecs = rankers[ranker].metaverse_vecs if level == "metaverse" else rankers[ranker].room_vecs
            n = len(m.coords)
            # normalised once per served view and grown by the new rows: placing costs the same however many are mapped
            held = self._unit.get(key)
            held = Rows(unit_rows(vecs[:n])) if held is None else held
            out.maps[key] = place_new_points(m, vecs[:n], vecs[n:], mapped_unit=held.array)
            out._unit[key] = held.appended(unit_rows(vecs[n:])) if n < len(vecs) else held
        return out

    def warm(self) -> None:
        """Every map's JSON (kind "all"), so the Explore tab's first draw only serialises it."""
        for ranker, level in self.maps:
            self.map_json(ranker, level)

    def available(self) -> bool:
        return bool(self.maps)

    def get(self, ranker: Optional[str], level: str) -> tuple[str, MapData]:
        ranker = ranker or self.default_ranker
        if level not in LEVELS:
            raise ValueError(f"Unknown map level {level!r}. Choose one of: {', '.join(LEVELS)}.")
        if (ranker, level) not in self.maps:
            if not self.maps:
                raise ValueError("This bundle has no maps yet; build them with `python -m backend build maps`.")
            raise ValueError(f"No {level} map for ranker {ranker!r}; maps exist for "
                             f"{', '.join(sorted({r for r, _ in self.maps}))}.")
        return ranker, self.maps[(ranker, level)]

    def _point_ids(self, level: str) -> tuple[list[str], list[str], list[str], list[Optional[str]]]:
        """(ids, titles, kinds, thumbnail urls) of every point of a level, in map order."""
        col = self.collection
        if level == "metaverse":
            ids = [m.id for m in col.metaverses]
            titles = [m.title for m in col.metaverses]
            kinds = [m.kind for m in col.metaverses]
            thumbs = [thumb_url(image_key(m.id, 1, 1)) if m.rooms and m.rooms[0].images and m.rooms[0].images[0]
                      else None for m in col.metaverses]
            return ids, titles, kinds, thumbs
        ids, titles, kinds, thumbs = [], [], [], []
        for m in col.metaverses:
            for r, room in enumerate(m.rooms):
                ids.append(f"{m.id}/{r + 1}")
                titles.append(f"{room.title} (room {r + 1} of {m.title})")
                kinds.append(m.kind)
                thumbs.append(thumb_url(image_key(m.id, r + 1, 1)) if room.images and room.images[0] else None)
        return ids, titles, kinds, thumbs

    def map_json(self, ranker: Optional[str] = None, level: str = "metaverse", kind: str = "all") -> dict:
        """Every point (x, y, cluster, id, title, kind, thumbnail) and every cluster (size, terms, medoid). Built once
        per (ranker, level, kind) and shared: callers must not change it."""
        kind = check_kind_filter(kind)
        ranker, m = self.get(ranker, level)
        if (ranker, level, kind) not in self._map_json:
            self._map_json[(ranker, level, kind)] = self._build_map_json(ranker, level, kind, m)
        return self._map_json[(ranker, level, kind)]

    def _build_map_json(self, ranker: str, level: str, kind: str, m: MapData) -> dict:
        ids, titles, kinds, thumbs = self._point_ids(level)
        n_built = len(m.coords) - int(m.params.get("placed", 0))
        titles = [t if i < n_built else f"{t} (added: placed by its neighbours until the next map build)"
                  for i, t in enumerate(titles)]
        keep = [i for i, k in enumerate(kinds) if kind == "all" or k == kind]
        clusters = []
        for c, terms in sorted(m.cluster_terms.items()):
            members = np.flatnonzero(m.labels == c)
            clusters.append({"cluster": c, "size": int(len(members)), "terms": terms,
                             "medoid": ids[m.medoids[c]] if c in m.medoids else None,
                             "x": float(m.coords[members, 0].mean()), "y": float(m.coords[members, 1].mean())})
        return {"ranker": ranker, "level": level, "kind": kind,
                "points": {"x": [round(float(m.coords[i, 0]), 4) for i in keep],
                           "y": [round(float(m.coords[i, 1]), 4) for i in keep],
                           "cluster": [int(m.labels[i]) for i in keep], "id": [ids[i] for i in keep],
                           "title": [titles[i] for i in keep], "kind": [kinds[i] for i in keep],
                           "thumb": [thumbs[i] for i in keep], "added": [i >= n_built for i in keep]},
                "clusters": clusters, "noise": int(np.sum(m.labels == -1)), "params": m.params,
                "agreement": self.agreement.get(ranker, {}).get(level)}

    def place_result(self, result: dict, ranker: Optional[str] = None) -> dict:
        """A search result on the metaverse map: its hits where they lie, the query at the score-weighted mean of its
        hits' positions (softmax, T = 0.02) — placed by its neighbours, so no UMAP is needed at serve time."""
        ranker, m = self.get(ranker or (result.get("query") or {}).get("ranker"), "metaverse")
        hits = result.get("results") or []
        if not hits:
            return {"ranker": ranker, "query": None, "hits": []}
        rows = np.array([self.collection.metaverse_row(h["id"]) for h in hits])
        scores = np.array([float(h.get("score") or 0) for h in hits])
        w = np.exp((scores - scores.max()) / PLACE_TEMPERATURE)
        w /= w.sum()
        xy = (m.coords[rows] * w[:, None]).sum(0)                                         # (2,)
        return {"ranker": ranker, "query": {"x": float(xy[0]), "y": float(xy[1])},
                "hits": [{"id": h["id"], "rank": h.get("rank"), "x": float(m.coords[r, 0]), "y": float(m.coords[r, 1])}
                         for h, r in zip(hits, rows)]}

    def cluster_members(self, cluster: int, ranker: Optional[str] = None, limit: int = 24) -> dict:
        """The metaverses of one cluster of the metaverse map, nearest its medoid first."""
        ranker, m = self.get(ranker, "metaverse")
        if cluster not in m.cluster_terms:
            raise ValueError(f"Unknown cluster {cluster!r}; this map has clusters 0-{len(m.cluster_terms) - 1}.")
        members = np.flatnonzero(m.labels == cluster)
        medoid = m.medoids[cluster]
        order = members[np.argsort(np.linalg.norm(m.coords[members] - m.coords[medoid], axis=1), kind="stable")]
        col = self.collection
        return {"ranker": ranker, "cluster": cluster, "size": int(len(members)), "terms": m.cluster_terms[cluster],
                "medoid": col.metaverses[medoid].id,
                "members": [metaverse_info(col, int(i)) for i in order[:limit]]}

    def neighbours(self, pid: str, vecs: np.ndarray, level: str = "metaverse", k: int = 8) -> dict:
        """The k points nearest `pid` by cosine in the ranker's space (vecs: that level's vectors in map order), for
        "show its neighbours"; the map shows where they landed, which UMAP may have torn apart."""
        ids = self._point_ids(level)[0]
        if pid not in ids:
            raise ValueError(f"No {level} {pid!r} on this map.")
        if len(vecs) != len(ids):
            raise ValueError(f"{len(vecs)} vectors for {len(ids)} {level} points")
        u = np.asarray(vecs, np.float32)
        u = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)                # (N, D)
        i = ids.index(pid)
        sims = u @ u[i]                                                                    # (N,)
        sims[i] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        return {"id": pid, "neighbours": [ids[j] for j in top], "cosine": [round(float(sims[j]), 4) for j in top]}

    def coords_of(self, ids: list[str], ranker: Optional[str] = None) -> Optional[np.ndarray]:
        """(n, 2) metaverse-map positions of the given ids, or None without a map."""
        if (ranker or self.default_ranker, "metaverse") not in self.maps:
            return None
        _, m = self.get(ranker, "metaverse")
        return m.coords[[self.collection.metaverse_row(i) for i in ids]]
