"""The search service: loads a bundle once and answers text / image queries with per-room attribution as plain data."""
from __future__ import annotations

import base64
import io
import json
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from backend.search.attribution import room_shares
from backend.data.bundle import Bundle, BundleError, load_bundle
from backend.device import configure_serving_threads, gpu_task
from backend.data.images import load_query_image
from backend.search.index import KindIndex
from backend.search.rankers.base import QueryVecs

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 6000  # a whole pasted description fits (longest in the demo world: 3,268)
MAX_K = 100
KIND_FILTERS = ("all", "museum", "game")
ROOM_MATCHES = 8
CANDIDATES = 256   # per index, metaverses rescored exactly when a ranker mixes in room-level evidence
from backend.paths import ASSETS
EXAMPLES_FILE = ASSETS / "examples.json"


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


class SearchService:
    """Everything the UI, CLI and bench need from a loaded bundle. Public methods return JSON-ready data."""

    def __init__(self, bundle: Bundle, encoder, rankers: dict, default_ranker: str):
        self.bundle = bundle
        self.collection = bundle.collection
        self.encoder = encoder
        self._rankers = rankers
        self.default_ranker = default_ranker
        col = self.collection
        kinds = np.array([m.kind for m in col.metaverses])
        self._room_owner = col.room_to_metaverse()                           # (N_rooms,)
        self._metaverse_index = {name: KindIndex(r.metaverse_vecs, kinds) for name, r in rankers.items()}
        self._room_index = {name: KindIndex(r.room_vecs, kinds[self._room_owner]) for name, r in rankers.items()}
        self._by_id = {m.id: i for i, m in enumerate(col.metaverses)}
        self.load_seconds: Optional[float] = None

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, path: Path | str, check_hashes: bool = True) -> "SearchService":
        """Load a bundle, its encoder and rankers. BundleError names the file and the rebuild command."""
        t0 = time.perf_counter()
        configure_serving_threads()
        bundle = load_bundle(path, check_hashes=check_hashes)
        from backend.encoders.factory import load_encoder
        try:
            encoder = load_encoder(bundle.encoder_spec, bundle.path)
        except (OSError, KeyError, RuntimeError, ValueError) as e:
            raise BundleError(f"{bundle.path}: could not load the encoder {bundle.encoder_spec.get('name')!r} "
                              f"({e}); rebuild with `python -m backend build demo`") from e
        from backend.search.rankers.baseline import BaselineRanker
        rankers = {"baseline": BaselineRanker(bundle.collection, encoder)}
        if "hicalm" in bundle.manifest.get("rankers", {}):
            from backend.search.rankers.hicalm import HicalmRanker
            rankers["hicalm"] = HicalmRanker.from_bundle(bundle, encoder)
        default = bundle.manifest.get("default_ranker", "baseline")
        if default not in rankers:
            default = "baseline"
        service = cls(bundle, encoder, rankers, default)
        service.warm_up()
        service.load_seconds = round(time.perf_counter() - t0, 3)
        log.info("service ready in %.2fs: %d metaverses, rankers %s", service.load_seconds,
                 bundle.collection.n_metaverses, list(rankers))
        return service

    def warm_up(self) -> None:
        """One query per ranker so the first user does not pay for lazy initialisation."""
        for name in self._rankers:
            self.search(text="a warm-up query", k=1, ranker=name)

    # ---- small accessors ----------------------------------------------------------------------------------------
    def rankers(self) -> list[str]:
        return list(self._rankers)

    def examples(self) -> list[str]:
        try:
            data = json.loads(EXAMPLES_FILE.read_text())
        except (OSError, json.JSONDecodeError):
            return []
        key = self.bundle.manifest.get("source", {}).get("type", "demo")
        return list(data.get(key, data.get("demo", [])))

    def info(self) -> dict:
        m = self.bundle.manifest
        return {"bundle": str(self.bundle.path), "name": m.get("name"), "created": m.get("created"),
                "encoder": m["encoder"].get("name"), "counts": m.get("counts", {}), "rankers": self.rankers(),
                "default_ranker": self.default_ranker, "source": m.get("source", {}), "reports": m.get("reports", {})}

    def image_ref_key(self, metaverse_id: str, room_index: int, image_index: int) -> str:
        return f"{metaverse_id}/{room_index}/{image_index}"

    def thumbnail_data_uri(self, image_ref: Optional[dict], size: int = 96) -> Optional[str]:
        if not image_ref:
            return None
        return _thumbnail(json.dumps(image_ref, sort_keys=True), int(size))

    # ---- validation ---------------------------------------------------------------------------------------------
    def _check_common(self, kind: str, k, ranker: Optional[str]) -> tuple[str, int, str]:
        if kind not in KIND_FILTERS:
            raise ValueError(f"Unknown kind {kind!r}. Choose one of: {', '.join(KIND_FILTERS)}.")
        try:
            k_int = int(k)
        except (TypeError, ValueError):
            raise ValueError(f"k must be a whole number between 1 and {MAX_K}, not {k!r}.") from None
        if not 1 <= k_int <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}; got {k_int}.")
        ranker = ranker or self.default_ranker
        if ranker not in self._rankers:
            raise ValueError(f"Unknown ranker {ranker!r}. Available: {', '.join(self._rankers)}.")
        return kind, k_int, ranker

    @staticmethod
    def _check_text(text) -> str:
        if not isinstance(text, str):
            raise ValueError("The query must be text.")
        text = text.strip()
        if not text:
            raise ValueError("The query is empty: type a few words, e.g. 'a museum of stormy seascapes'.")
        if len(text) > MAX_QUERY_CHARS:
            raise ValueError(f"The query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}. "
                             "Shorten it to the rooms or scenes you are looking for.")
        return text

    def _feature_for_ref_key(self, key: str) -> tuple[np.ndarray, dict]:
        try:
            mid, room, img = key.rsplit("/", 2)
            m = self._by_id[mid]
            room_i, img_i = int(room), int(img)
            r = self.collection.room_range(m)[room_i]
            feats = self.collection.room_images(r)
            feat = feats[img_i]
        except (KeyError, ValueError, IndexError):
            raise ValueError(f"Unknown image reference {key!r}; expected '<metaverse id>/<room>/<image>'.") from None
        return feat, {"metaverse_id": mid, "room_index": room_i, "image_index": img_i}

    # ---- search -------------------------------------------------------------------------------------------------
    @gpu_task
    def search(self, text: Optional[str] = None, image=None, image_ref_key: Optional[str] = None,
               kind: str = "all", k: int = 10, ranker: Optional[str] = None) -> dict:
        """Rank metaverses for one query (exactly one of text, image, image_ref_key)."""
        if sum(x is not None for x in (text, image, image_ref_key)) != 1:
            raise ValueError("Give exactly one query: a text, an image, or a room image to search like.")
        kind, k, ranker_name = self._check_common(kind, k, ranker)
        rk = self._rankers[ranker_name]
        t0 = time.perf_counter()
        if text is not None:
            text = self._check_text(text)
            query = {"type": "text", "text": text}
            qv: QueryVecs = rk.text_query(text)
        elif image is not None:
            im = load_query_image(image)
            query = {"type": "image", "size": list(im.size)}
            qv = rk.image_feature_query(self.encoder.encode_image([im])[0])
        else:
            feat, where = self._feature_for_ref_key(str(image_ref_key))
            query = {"type": "image", "like": where}
            qv = rk.image_feature_query(feat)
        t_encode = _ms(t0)

        t1 = time.perf_counter()
        scores, idx, metaverse_scores, room_scores_all, room_ids = self._rank(ranker_name, qv, k, kind)
        t_search = _ms(t1)

        t2 = time.perf_counter()
        loo = rk.leave_one_room_out(qv, [int(i) for i in idx]) if len(idx) else []
        results = [self._result(rank + 1, int(m), float(s), float(ms), qv, rk, loo[rank])
                   for rank, (m, s, ms) in enumerate(zip(idx, scores, metaverse_scores))]
        room_matches = [self._room_match(int(r), float(s))
                        for r, s in zip(room_ids[:ROOM_MATCHES], room_scores_all[:ROOM_MATCHES])]
        t_attr = _ms(t2)

        query.update({"kind": kind, "k": k, "ranker": ranker_name})
        return {"query": query, "results": results, "room_matches": room_matches,
                "timings_ms": {"encode": t_encode, "search": t_search, "attribution": t_attr,
                               "total": _ms(t0)}}

    def _rooms_search(self, ranker_name: str, qv: QueryVecs, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Best n rooms for the query's room parts, taken in turns (each named room gets its best matches shown)
        -> (scores, global room ids), no repeats."""
        per_part = [self._room_index[ranker_name].search(part, n, kind) for part in qv.parts]
        seen: dict[int, float] = {}
        for rank in range(n):
            for scores, ids in per_part:
                if rank < len(ids) and int(ids[rank]) not in seen:
                    seen[int(ids[rank])] = float(scores[rank])
            if len(seen) >= n:
                break
        order = list(seen)[:n]
        return np.array([seen[r] for r in order], np.float32), np.array(order, np.int64)

    def _rank(self, ranker_name: str, qv: QueryVecs, k: int, kind: str):
        """Top-k metaverses -> (scores, ids, metaverse-level scores, room scores, room ids) best first.

        With qv.room_weight w > 0 metaverse m scores  (q·m + w · mean over the query's room parts p of
        max over m's rooms r of (p·r)) / (1 + w): the metaverse-level match plus, for each room the query names, its
        best room, kept on the cosine scale so the shown score stays readable.
        Candidates are the union of the faiss top lists (metaverses, and the rooms of every part), rescored exactly."""
        w = qv.room_weight
        n_rooms = max(ROOM_MATCHES, CANDIDATES) if w else ROOM_MATCHES
        room_scores, room_ids = self._rooms_search(ranker_name, qv, n_rooms, kind)
        if not w:
            scores, idx = self._metaverse_index[ranker_name].search(qv.metaverse, k, kind)
            return scores, idx, scores, room_scores, room_ids
        rk = self._rankers[ranker_name]
        _, mv_ids = self._metaverse_index[ranker_name].search(qv.metaverse, max(k, CANDIDATES), kind)
        cand = np.union1d(mv_ids, self._room_owner[room_ids])                           # (C,)
        offsets = self.collection.metaverse_room_offsets
        starts, lengths = offsets[cand], offsets[cand + 1] - offsets[cand]                # (C,), (C,)
        rooms = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())  # all their rooms
        part_scores = rk.room_vecs[rooms] @ qv.parts.T                                    # (N, P)
        best_room = np.maximum.reduceat(part_scores, np.cumsum(lengths) - lengths, axis=0).mean(1)  # (C,)
        metaverse_scores = rk.metaverse_vecs[cand] @ qv.metaverse                         # (C,)
        combined = (metaverse_scores + w * best_room) / (1 + w)                           # (C,) a cosine-like mean
        top = np.argsort(-combined, kind="stable")[:k]
        return combined[top], cand[top], metaverse_scores[top], room_scores, room_ids

    def _result(self, rank: int, m: int, score: float, metaverse_score: float, qv: QueryVecs, rk,
                loo_scores: np.ndarray) -> dict:
        info = self.collection.metaverses[m]
        rooms = self.collection.room_range(m)
        room_scores = (rk.room_vecs[rooms.start:rooms.stop] @ qv.parts.T).max(1)     # (R,): best-matching part
        shares = room_shares(room_scores, metaverse_score, loo_scores)
        best = int(np.argmax(shares["contribution"]))
        return {
            "rank": rank, "id": info.id, "kind": info.kind, "title": info.title, "score": round(score, 4),
            "metaverse_score": round(metaverse_score, 4),
            "theme": info.theme, "best_room": best, "intro": info.paragraphs[0],
            "rooms": [{"index": r.index, "title": r.title, "score": round(float(room_scores[i]), 4),
                       "contribution": round(float(shares["contribution"][i]), 4),
                       "occlusion_drop": round(float(shares["occlusion_drop"][i]), 4),
                       "paragraph": info.paragraphs[i + 1], "images": list(r.images)}
                      for i, r in enumerate(info.rooms)],
        }

    def _room_match(self, r: int, score: float) -> dict:
        m = int(self._room_owner[r])
        info = self.collection.metaverses[m]
        local = r - int(self.collection.metaverse_room_offsets[m])
        room = info.rooms[local]
        return {"metaverse_id": info.id, "metaverse_title": info.title, "kind": info.kind, "room_index": local,
                "room_title": room.title, "score": round(score, 4), "paragraph": info.paragraphs[local + 1],
                "images": list(room.images)}


@lru_cache(maxsize=4096)
def _thumbnail(ref_json: str, size: int) -> str:
    from backend.world.render import render_image
    im = render_image(json.loads(ref_json), size=size)
    buf = io.BytesIO()
    im.save(buf, format="PNG")  # optimize=True costs 7x the time for 1 % fewer bytes
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
