"""Maps stored in a bundle: one UMAP + HDBSCAN map per ranker space and level, built at build time, loaded at serve
time (the app never runs UMAP)."""
from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np

from backend.data.collection import Collection
from backend.explore.maps import MapData, build_map, cluster_agreement

log = logging.getLogger(__name__)

LEVELS = ("metaverse", "room")
MAP_SEED = 0
# HDBSCAN settings per level. Rooms: the defaults. Metaverses: "leaf" with clusters of >= 8 unless the sweep chose
# for the space (METAVERSE_CLUSTERING); "eom" keeps only the two most persistent clusters on HiCALM's space.
LEVEL_CLUSTERING = {"metaverse": {"cluster_selection": "leaf", "min_cluster_size": 8},
                    "room": {"cluster_selection": "eom", "min_cluster_size": None}}
# Per ranker space, what `python -m backend.explore.sweep` chooses (its CHOICE_RULE: noise <= 15 %, 8-40 clusters,
# best ARI against the themes). HDBSCAN's default min_samples = min_cluster_size had left 41-45 % of HiCALM's map noise.
METAVERSE_CLUSTERING = {"hicalm": {"cluster_selection": "leaf", "min_cluster_size": 20, "min_samples": 1},
                        "baseline": {"cluster_selection": "eom", "min_cluster_size": 10, "min_samples": 1}}


def clustering_for(ranker: str, level: str) -> dict:
    """The HDBSCAN settings `build maps` uses for a ranker space and level."""
    if level == "metaverse" and ranker in METAVERSE_CLUSTERING:
        return METAVERSE_CLUSTERING[ranker]
    return LEVEL_CLUSTERING[level]
# Words every description repeats (its template), useless as cluster labels.
TEMPLATE_WORDS = ("room", "rooms", "painting", "paintings", "video", "segment", "segments", "frame", "frames",
                  "museum", "playthrough", "player", "screen", "canvas", "work", "shows", "depicts", "hangs",
                  "manner", "rendered", "painted", "drawn", "tones", "colours", "shades", "first", "second", "third",
                  "fourth", "fifth", "sixth", "seventh", "eighth", "collection", "gallery", "devoted", "moves")


def level_texts(col: Collection, level: str) -> list[str]:
    """What c-TF-IDF reads per point: a metaverse's whole description, a room's paragraph."""
    if level == "metaverse":
        return [" ".join(m.paragraphs) for m in col.metaverses]
    return [m.paragraphs[r + 1] for m in col.metaverses for r in range(len(m.rooms))]


def level_truth(col: Collection, level: str) -> Optional[list[str]]:
    """The generator's labels to check clusters against: a metaverse's theme, a room's subject (demo world only)."""
    if level == "metaverse":
        themes = [m.theme for m in col.metaverses]
        return themes if all(themes) else None
    subjects = [(room.images[0] or {}).get("subject") if room.images else None
                for m in col.metaverses for room in m.rooms]
    return subjects if all(subjects) else None


def ranker_vectors(bundle) -> dict[str, dict[str, np.ndarray]]:
    """{ranker: {level: vecs}} for every ranker of a bundle, straight from its arrays (no encoder needed)."""
    from backend.search.rankers.baseline import BaselineRanker
    base = BaselineRanker(bundle.collection, encoder=None)
    out = {"baseline": {"metaverse": base.metaverse_vecs, "room": base.room_vecs}}
    spec = bundle.manifest.get("rankers", {}).get("hicalm")
    if spec:
        out["hicalm"] = {"metaverse": bundle.load_array(spec["metaverse_vecs"]).astype(np.float32),
                         "room": bundle.load_array(spec["room_vecs"]).astype(np.float32)}
    return out


def add_maps(writer, col: Collection, vectors: dict[str, dict[str, np.ndarray]], seed: int = MAP_SEED) -> dict:
    """Build every (ranker, level) map, add its arrays to the writer and describe it in manifest["maps"]."""
    maps: dict = {}
    for ranker, by_level in vectors.items():
        for level in LEVELS:
            t0 = time.perf_counter()
            m = build_map(by_level[level], level_texts(col, level), seed=seed, extra_stop_words=TEMPLATE_WORDS,
                          **clustering_for(ranker, level))
            prefix = f"map_{ranker}_{level}"
            writer.add_array(f"{prefix}_coords.npy", m.coords, "float32")
            writer.add_array(f"{prefix}_labels.npy", m.labels, "int32")
            truth = level_truth(col, level)
            entry = {"coords": f"{prefix}_coords.npy", "labels": f"{prefix}_labels.npy",
                     "cluster_terms": {str(c): t for c, t in m.cluster_terms.items()},
                     "medoids": {str(c): int(i) for c, i in m.medoids.items()}, "params": m.params,
                     "agreement": cluster_agreement(m.labels, truth) if truth else None,
                     "seconds": round(time.perf_counter() - t0, 1)}
            maps.setdefault(ranker, {})[level] = entry
            log.info("map %s/%s: %d clusters in %.1fs", ranker, level, len(m.cluster_terms), entry["seconds"])
    writer.manifest["maps"] = maps
    return maps


def load_map(bundle, ranker: str, level: str) -> Optional[MapData]:
    """The stored map, or None when the bundle has none for this ranker and level."""
    entry = bundle.manifest.get("maps", {}).get(ranker, {}).get(level)
    if not entry:
        return None
    return MapData(coords=bundle.load_array(entry["coords"]).astype(np.float32),
                   labels=bundle.load_array(entry["labels"]).astype(np.int64),
                   cluster_terms={int(c): list(t) for c, t in entry["cluster_terms"].items()},
                   medoids={int(c): int(i) for c, i in entry["medoids"].items()}, params=entry["params"])
