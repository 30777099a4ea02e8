"""Collection maps: UMAP layout, HDBSCAN clusters, c-TF-IDF cluster terms, medoids, query placement, save/load."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from numbers import Integral, Real
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

MAP_FORMAT = "explore-map/1"
MIN_CLUSTER_SIZE_RULE = "max(5, floor(sqrt(N) / 2 + 0.5))"
CLUSTER_MIN_DIST = 0.0          # the clustering embedding packs neighbours tightly; min_dist is a display knob
MIN_ITEMS = 8                   # fewer points give UMAP nothing to lay out
PLACE_TEMPERATURE = 0.02        # softmax over neighbour cosines: a 0.02 gap is an e-fold in weight


@dataclass(frozen=True)
class MapData:
    coords: np.ndarray                      # (N, 2) float32 UMAP layout
    labels: np.ndarray                      # (N,) int64 cluster, 0 = largest, -1 = noise
    cluster_terms: dict[int, list[str]]     # cluster -> top c-TF-IDF terms, best first
    medoids: dict[int, int]                 # cluster -> row index of its medoid (cosine, in the original space)
    params: dict                            # every parameter, the seed, library versions, timings


# What a rebuild reproduces; `build maps` prints it and the manifest keeps the host each map was built on.
REPRODUCES = ("same vectors, seed, library versions and host CPU: identical coordinates and labels (UMAP with "
              "random_state, n_jobs=1; checked by tests/explore/test_map_reproducible.py). Another CPU: not "
              "guaranteed: numba compiles UMAP's and pynndescent's loops for the host CPU (vector width, FMA) and "
              "OpenBLAS picks CPU-specific kernels, so low bits differ, UMAP's optimisation amplifies them into "
              "another layout, and the labels (HDBSCAN on a UMAP fit) can change with it. The stored arrays are "
              "what the app serves; it never re-runs UMAP")


def build_host() -> dict:
    """What decides whether a rebuild gives the same floats: the CPU numba compiles for, the BLAS kernels in use."""
    import platform
    host = {"machine": platform.machine(), "numba_cpu": None, "blas": None}
    try:
        import llvmlite.binding as llvm
        host["numba_cpu"] = os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()
    except Exception:   # llvmlite missing or too old: the fingerprint says so rather than failing the build
        pass
    try:
        from threadpoolctl import threadpool_info
        host["blas"] = ", ".join(sorted({f"{i.get('internal_api')} {i.get('architecture')}" for i in threadpool_info()
                                         if i.get("user_api") == "blas" and any(
                                             f"{os.sep}{lib}" in (i.get("filepath") or "") for lib in ("numpy",
                                                                                                      "scipy"))})) or None
    except Exception:   # threadpoolctl missing: same as above
        pass
    return host


def default_min_cluster_size(n: int) -> int:
    """HDBSCAN min_cluster_size for a collection of n items: max(5, sqrt(n)/2 rounded half up)."""
    return max(5, math.floor(math.sqrt(n) / 2 + 0.5))


def build_map(vecs: np.ndarray, texts: Sequence[str], seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1,
              min_cluster_size: int | None = None, cluster_dims: int = 5, n_terms: int = 3,
              cluster_selection: str = "eom", extra_stop_words: Sequence[str] = (),
              min_samples: int | None = None) -> MapData:
    """Lay the collection out in 2-D, cluster it, and label each cluster with its top c-TF-IDF terms.

    vecs (N, D): item vectors (cosine metric; need not be normalised). texts: N strings, one per item.
    Clusters come from HDBSCAN on a separate `cluster_dims`-D UMAP embedding (min_dist=0), not on the 2-D layout:
    the BERTopic recipe. Density clustering works poorly on the raw high-D vectors (distances concentrate), while
    the 2-D layout tears and crowds neighbourhoods to fit the plane and its min_dist spreads points apart, so
    its clusters would change with a display setting. The price is a second UMAP fit; cluster_dims=2 clusters the
    2-D layout itself (one fit, faster). Both fits use random_state=seed (single-threaded), so a seed reproduces
    the map exactly. n_neighbors is clamped to N - 1. cluster_selection: HDBSCAN's "eom" (the most persistent
    clusters; can be very few big ones) or "leaf" (the finest clusters of the tree). min_samples: HDBSCAN's core
    neighbourhood (None = min_cluster_size, its default); smaller marks fewer points as noise.
    """
    t0 = time.perf_counter()
    X = _check_vecs(vecs, "vecs")                                           # (N, D)
    N = len(X)
    if N < MIN_ITEMS:
        raise ValueError(f"vecs has {N} rows; a map needs at least {MIN_ITEMS} items")
    texts = _check_texts(texts, N)
    for name, value, low in (("n_neighbors", n_neighbors, 2), ("cluster_dims", cluster_dims, 2),
                             ("n_terms", n_terms, 1)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= {low}")
    if cluster_selection not in ("eom", "leaf"):
        raise ValueError(f"cluster_selection={cluster_selection!r} is not allowed; use 'eom' or 'leaf'")
    if cluster_dims > 10:
        raise ValueError(f"cluster_dims={cluster_dims} is not allowed; use 2 to 10")
    if isinstance(min_dist, bool) or not isinstance(min_dist, Real) or not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist={min_dist!r} is not allowed; it must be in [0, 1]")
    if min_cluster_size is not None and (isinstance(min_cluster_size, bool)
                                         or not isinstance(min_cluster_size, Integral) or min_cluster_size < 2):
        raise ValueError(f"min_cluster_size={min_cluster_size!r} is not allowed; use None or an integer >= 2")
    if min_samples is not None and (isinstance(min_samples, bool) or not isinstance(min_samples, Integral)
                                    or min_samples < 1):
        raise ValueError(f"min_samples={min_samples!r} is not allowed; use None or an integer >= 1")
    mcs = int(min_cluster_size or default_min_cluster_size(N))
    nn = min(n_neighbors, N - 1)
    timings: dict[str, float] = {}

    import umap

    t = time.perf_counter()
    coords = umap.UMAP(n_neighbors=nn, n_components=2, metric="cosine", min_dist=min_dist, random_state=seed,
                       n_jobs=1).fit_transform(X).astype(np.float32)        # (N, 2)
    timings["umap_2d"] = time.perf_counter() - t
    if cluster_dims == 2:
        space = coords
    else:
        t = time.perf_counter()
        space = cluster_space(X, seed, nn, cluster_dims)                   # (N, cluster_dims)
        timings["umap_cluster"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = cluster_labels(space, mcs, min_samples, cluster_selection)    # (N,) 0 = largest
    timings["hdbscan"] = time.perf_counter() - t
    t = time.perf_counter()
    terms = ctfidf_terms(texts, labels, n_terms=n_terms, extra_stop_words=extra_stop_words)
    medoids = cluster_medoids(X, labels)
    timings["terms_medoids"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    n_clusters = int(labels.max()) + 1
    params = {"n_items": N, "dim": int(X.shape[1]), "seed": seed, "metric": "cosine",
              "n_neighbors": nn, "n_neighbors_requested": n_neighbors, "min_dist": float(min_dist),
              "cluster_dims": cluster_dims, "cluster_selection": cluster_selection,
              "cluster_min_dist": CLUSTER_MIN_DIST if cluster_dims != 2 else float(min_dist),
              "cluster_space": "umap-2d" if cluster_dims == 2 else f"umap-{cluster_dims}d",
              "min_cluster_size": mcs, "min_cluster_size_rule": MIN_CLUSTER_SIZE_RULE, "min_samples": min_samples,
              "n_terms": n_terms,
              "n_clusters": n_clusters, "noise_fraction": float(np.mean(labels == -1)),
              "versions": {p: _version(p) for p in ("umap-learn", "hdbscan", "scikit-learn", "numpy", "numba",
                                                    "pynndescent", "scipy")},
              "host": build_host(), "reproduces": REPRODUCES,
              "timings_s": {k: round(v, 4) for k, v in timings.items()}}
    log.info("build_map: %d items, %d clusters, %.0f%% noise in %.2fs", N, n_clusters,
             100 * params["noise_fraction"], timings["total"])
    return MapData(coords=coords, labels=labels, cluster_terms=terms, medoids=medoids, params=params)


def cluster_space(X: np.ndarray, seed: int, n_neighbors: int, cluster_dims: int) -> np.ndarray:
    """The UMAP embedding HDBSCAN runs on: cluster_dims-D, min_dist CLUSTER_MIN_DIST, cosine, single-threaded."""
    import umap
    return umap.UMAP(n_neighbors=n_neighbors, n_components=cluster_dims, metric="cosine", min_dist=CLUSTER_MIN_DIST,
                     random_state=seed, n_jobs=1).fit_transform(X)


def cluster_labels(space: np.ndarray, min_cluster_size: int, min_samples: int | None,
                   cluster_selection: str) -> np.ndarray:
    """HDBSCAN labels on a cluster space, renumbered 0 = largest; -1 is noise."""
    import hdbscan
    raw = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, metric="euclidean",
                          core_dist_n_jobs=1, cluster_selection_method=cluster_selection).fit_predict(
        np.asarray(space, dtype=np.float64))
    return _relabel_by_size(raw.astype(np.int64))


def ctfidf_terms(texts: Sequence[str], labels: np.ndarray, n_terms: int = 3,
                 extra_stop_words: Sequence[str] = ()) -> dict[int, list[str]]:
    """Top class-based TF-IDF terms of each cluster (labels >= 0), best first, ties alphabetical.

    Each class (noise included, as BERTopic does) is one document of its members' texts; English stop words are
    dropped. weight(t, c) = tf(t, c) / words(c) * log(1 + A / f(t)), A = mean words per class, f(t) = count of t
    over all classes: frequent in the cluster, rare elsewhere.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    labels = np.asarray(labels)
    classes = sorted(int(c) for c in np.unique(labels))
    clusters = [c for c in classes if c >= 0]
    docs = [" ".join(texts[i] for i in np.flatnonzero(labels == c)) for c in classes]
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    vectorizer = CountVectorizer(stop_words=sorted(ENGLISH_STOP_WORDS | set(extra_stop_words)))
    try:
        counts = vectorizer.fit_transform(docs).toarray().astype(np.float64)   # (C, V)
    except ValueError:                                                         # empty vocabulary: only stop words
        return {c: [] for c in clusters}
    vocab = vectorizer.get_feature_names_out()                                 # (V,) alphabetical
    words = counts.sum(axis=1, keepdims=True)                                  # (C, 1)
    tf = np.divide(counts, words, out=np.zeros_like(counts), where=words > 0)  # (C, V)
    avg_words = counts.sum() / len(classes)
    idf = np.log(1.0 + avg_words / counts.sum(axis=0))                        # (V,) every term occurs somewhere
    weight = tf * idf                                                          # (C, V)
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        if c < 0:
            continue
        present = np.flatnonzero(counts[row] > 0)
        order = present[np.lexsort((present, -weight[row, present]))]          # vocab index order = alphabetical
        out[c] = [str(vocab[j]) for j in order[:n_terms]]
    return out


def cluster_medoids(vecs: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Row index of each cluster's medoid under cosine distance: argmax of u_i · sum_j u_j over its unit rows."""
    u = _unit_rows(np.asarray(vecs, dtype=np.float64))                         # (N, D)
    out = {}
    for c in sorted(int(x) for x in np.unique(labels) if x >= 0):
        members = np.flatnonzero(labels == c)
        out[c] = int(members[np.argmax(u[members] @ u[members].sum(axis=0))])
    return out


def place_by_neighbours(query_vec: np.ndarray, vecs: np.ndarray, coords: np.ndarray, k: int = 10,
                        temperature: float = PLACE_TEMPERATURE) -> tuple[float, float]:
    """Map position of a new vector: mean of its k nearest items' coordinates, weighted by softmax(cosine / T).

    query_vec (D,), vecs (N, D), coords (N, 2). No UMAP at serve time; a query equal to an item lands next to it
    (its neighbours, close in the map too, pull it only slightly).
    """
    return place_among_unit(query_vec, unit_rows(vecs), coords, k, temperature)


def unit_rows(vecs: np.ndarray) -> np.ndarray:
    """(N, D) float64 unit rows of checked vectors (finite, non-zero): what place_among_unit compares with, so a
    caller placing many points normalises the mapped vectors once."""
    return _unit_rows(_check_vecs(vecs, "vecs").astype(np.float64))


def place_among_unit(query_vec: np.ndarray, unit: np.ndarray, coords: np.ndarray, k: int = 10,
                     temperature: float = PLACE_TEMPERATURE) -> tuple[float, float]:
    """place_by_neighbours with the mapped vectors given as unit_rows(vecs) (N, D)."""
    q = np.asarray(query_vec, dtype=np.float64).reshape(-1)                     # (D,)
    xy = np.asarray(coords)
    if q.shape != (unit.shape[1],) or not np.all(np.isfinite(q)) or not np.linalg.norm(q) > 0:
        raise ValueError(f"query_vec must be a finite non-zero vector of length {unit.shape[1]}, got shape {q.shape}")
    if xy.shape != (len(unit), 2):
        raise ValueError(f"coords must have shape ({len(unit)}, 2) to match vecs, got {xy.shape}")
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k={k!r} is not allowed; k must be an integer >= 1")
    if isinstance(temperature, bool) or not isinstance(temperature, Real) or not temperature > 0:
        raise ValueError(f"temperature={temperature!r} is not allowed; it must be > 0")
    sims = unit @ (q / np.linalg.norm(q))                                       # (N,)
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    w = np.exp((sims[top] - sims[top].max()) / temperature)                     # (k,)
    x, y = (w[:, None] * xy[top].astype(np.float64)).sum(axis=0) / w.sum()       # only the k rows converted
    return float(x), float(y)


def cluster_agreement(labels: np.ndarray, themes: Sequence) -> dict:
    """How well clusters match known themes: adjusted Rand and NMI (noise counted as one more group), the same two
    over clustered items only, and the noise fraction."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    labels = np.asarray(labels)
    themes = np.asarray(themes)
    if labels.ndim != 1 or themes.shape != labels.shape or len(labels) == 0:
        raise ValueError(f"labels and themes must be 1-D and of one non-zero length, got {labels.shape} and "
                         f"{themes.shape}")
    clustered = labels >= 0
    out = {"adjusted_rand": float(adjusted_rand_score(themes, labels)),
           "nmi": float(normalized_mutual_info_score(themes, labels)),
           "noise_fraction": float(1.0 - clustered.mean()),
           "n_clusters": int(len(np.unique(labels[clustered]))), "n_themes": int(len(np.unique(themes)))}
    if clustered.any():
        out["adjusted_rand_clustered"] = float(adjusted_rand_score(themes[clustered], labels[clustered]))
        out["nmi_clustered"] = float(normalized_mutual_info_score(themes[clustered], labels[clustered]))
    else:
        out["adjusted_rand_clustered"] = out["nmi_clustered"] = None
    return out


# ---- save / load ------------------------------------------------------------------------------------------------
def map_paths(directory: str | Path, prefix: str) -> dict[str, Path]:
    """The three files of a saved map: <prefix>.coords.npy, <prefix>.labels.npy, <prefix>.map.json."""
    if not isinstance(prefix, str) or not prefix or any(ch in prefix for ch in "/\\") or prefix.startswith("."):
        raise ValueError(f"prefix={prefix!r} is not allowed; use a plain file-name stem such as 'museums'")
    d = Path(directory)
    return {"coords": d / f"{prefix}.coords.npy", "labels": d / f"{prefix}.labels.npy",
            "json": d / f"{prefix}.map.json"}


def save_map(m: MapData, directory: str | Path, prefix: str) -> list[Path]:
    """Write the map's arrays as .npy and the rest as JSON; returns the paths written."""
    paths = map_paths(directory, prefix)
    Path(directory).mkdir(parents=True, exist_ok=True)
    np.save(paths["coords"], np.asarray(m.coords, dtype=np.float32), allow_pickle=False)
    np.save(paths["labels"], np.asarray(m.labels, dtype=np.int64), allow_pickle=False)
    meta = {"format": MAP_FORMAT, "n_items": int(len(m.labels)),
            "cluster_terms": {str(c): list(t) for c, t in m.cluster_terms.items()},
            "medoids": {str(c): int(i) for c, i in m.medoids.items()}, "params": m.params}
    paths["json"].write_text(json.dumps(meta, indent=1, sort_keys=True))
    return list(paths.values())


def load_map(directory: str | Path, prefix: str) -> MapData:
    """Read a map written by save_map; ValueError if its files disagree."""
    paths = map_paths(directory, prefix)
    meta = json.loads(paths["json"].read_text())
    if meta.get("format") != MAP_FORMAT:
        raise ValueError(f"{paths['json']} has format {meta.get('format')!r}; expected {MAP_FORMAT!r}")
    coords = np.load(paths["coords"], allow_pickle=False)
    labels = np.load(paths["labels"], allow_pickle=False)
    n = meta["n_items"]
    if coords.shape != (n, 2) or labels.shape != (n,):
        raise ValueError(f"map {prefix!r} in {directory} is inconsistent: coords {coords.shape}, "
                         f"labels {labels.shape}, json says {n} items")
    return MapData(coords=coords.astype(np.float32), labels=labels.astype(np.int64),
                   cluster_terms={int(c): list(t) for c, t in meta["cluster_terms"].items()},
                   medoids={int(c): int(i) for c, i in meta["medoids"].items()}, params=meta["params"])


# ---- helpers ----------------------------------------------------------------------------------------------------
def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... by decreasing size (ties by old label); -1 stays -1."""
    ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
    if len(ids) == 0:
        return np.full(len(labels), -1, dtype=np.int64)
    new = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    new[ids[np.lexsort((ids, -sizes))]] = np.arange(len(ids))
    return np.where(labels >= 0, new[np.maximum(labels, 0)], -1)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _check_vecs(vecs: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(vecs, dtype=np.float32)
    if X.ndim != 2 or len(X) == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (N, D), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} holds NaN or infinite values; only finite vectors are allowed")
    zero = np.flatnonzero(~(np.linalg.norm(X, axis=1) > 0))
    if len(zero):
        raise ValueError(f"{name} rows {zero[:10].tolist()} are zero vectors; cosine needs non-zero rows")
    return X


def _check_texts(texts: Sequence[str], n: int) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, one per item, not a single string")
    out = list(texts)
    if len(out) != n:
        raise ValueError(f"texts has {len(out)} entries; it needs one per row of vecs ({n})")
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts entries {bad[:10]} are not strings")
    return out


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
