"""Recommendation seeds: HDBSCAN over the liked items, medoid and outlier seeds, retrieval around them (D3.2 4.2.2)."""
from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("paper", "per-cluster")
ROLES: tuple[str, ...] = ("medoid", "outlier", "outer", "liked", "collection-medoid")
# Softmax temperature over cosine scores in the zero-cluster case: a 0.05 cosine gap is an e-fold in probability.
DEFAULT_TEMPERATURE = 0.05
# A lone HDBSCAN cluster is kept only if its members' mean pairwise cosine beats this quantile of the same figure over
# random same-size sets of collection items: random likes pass 5 % of the time. The fixed gain 0.2 it replaces turned
# away 6 of 20 single-theme sets of 10 likes (bench-recommend "single_theme").
SINGLE_CLUSTER_NULL_QUANTILE = 0.95
NULL_DRAWS = 500      # random sets drawn (with a fixed generator, so the branch never depends on the request's seed)
# A liked item belongs to a lone cluster if it leaves it at most twice as far out as the cluster's densest point.
SINGLE_CLUSTER_MAX_OUTLIER_SCORE = 0.5
MIN_CLUSTER_SIZE_RULE = "max(3, floor(sqrt(n) / 2 + 0.5))"
_NORM_TOL = 1e-2


@dataclass(frozen=True)
class Seed:
    index: int      # row in item_vecs
    cluster: int    # liked-item cluster (0 = largest), collection cluster for cold start; -1 = noise / none
    role: str       # one of ROLES
    reason: str     # human-readable why this item is a seed
    share: int      # how many recommended items came from this seed


@dataclass(frozen=True)
class RecommendedItem:
    index: int       # row in item_vecs
    score: float     # cosine between the item and its seed
    seed_index: int  # Seed.index of the seed that retrieved it


@dataclass(frozen=True)
class Recommendation:
    seeds: tuple[Seed, ...]
    items: tuple[RecommendedItem, ...]   # seed blocks in seed order, best first; no clusters: best first overall;
                                         # cold start: pick order, one item per seed in turn
    liked_labels: tuple[int, ...]        # cluster of each liked item, in the order given (-1 = outlier); () cold start
    split: dict[str, int]                # role -> number of items
    ild: float                           # intra_list_diversity of the recommended items
    params: dict                         # every parameter, the branch taken, clustering details, timings
    ignored: dict[str, str] = field(default_factory=dict)   # parameter -> why it changed nothing for these likes


def default_min_cluster_size(n: int) -> int:
    """HDBSCAN min_cluster_size for n points: max(3, sqrt(n)/2 rounded half up); 2 let random pairs form clusters."""
    return max(3, math.floor(math.sqrt(n) / 2 + 0.5))


def intra_list_diversity(vecs: np.ndarray) -> float:
    """Mean pairwise cosine distance (1 - cosine) over the rows of vecs; 0.0 for fewer than two rows."""
    v = np.asarray(vecs, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"vecs must be a 2-D array (n, D), got shape {v.shape}")
    n = len(v)
    if n < 2:
        return 0.0
    norms = np.linalg.norm(v, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"vecs rows {np.flatnonzero(norms == 0)[:10].tolist()} are zero; cosine is undefined")
    u = v / norms[:, None]                                                  # (n, D)
    s = u.sum(axis=0)                                                       # (D,)
    mean_cos = (s @ s - n) / (n * (n - 1))                                  # off-diagonal mean of u @ u.T
    return float(1.0 - mean_cos)


def recommend(item_vecs: np.ndarray, liked: Sequence[int], k: int, d: float = 0.2, mode: str = "paper",
              seed: int | None = 0, candidates_mask: np.ndarray | None = None, min_cluster_size: int | None = None,
              collection_labels: np.ndarray | None = None,
              temperature: float = DEFAULT_TEMPERATURE) -> Recommendation:
    """Recommend k items around seeds chosen from the liked items (D3.2 §4.2.2).

    item_vecs (N, D): L2-normalised vectors of every metaverse. liked: row indices of the liked ones (may be empty:
    cold start). d: fraction of k retrieved around a random outlier. mode: "paper" (two largest clusters' medoids)
    or "per-cluster" (every cluster's medoid, shares proportional to cluster size). candidates_mask (N,) bool: items
    that may be recommended (liked items never are). min_cluster_size: default `default_min_cluster_size(n)`.
    collection_labels (N,): precomputed collection clusters for cold start (-1 noise); computed when None.

    Branches on the HDBSCAN clusters of the liked items (euclidean on unit vectors = cosine order):
      0 clusters: every liked item is a seed; each seed's top k form a pool and k items are sampled from it without
        replacement by softmax(best cosine / temperature). One liked item: its top k.
      1 cluster: its medoid gives k - n_out items, a random outlier n_out. >= 2 clusters: the two largest clusters'
        medoids split k - n_out ("per-cluster": every cluster's medoid, in proportion to cluster size).
      With k >= n in the no-clusters branch every liked item first takes its own best item, so every seed gives one.
      Cold start (liked == []): the collection clusters' medoids, largest cluster first, one item each in turn.
    Counts always sum to k: n_out = d·k rounded half up; when no liked item is an outlier a random "outer" liked item
    (outer half by cosine to its cluster's medoid, or a member of a cluster no medoid seed stands for) takes that
    share, so d always acts once there is a cluster; the medoids split the rest by largest remainder, ties to the
    larger cluster (so in "paper" mode an odd rest gives the largest cluster one more). `ignored` names each
    parameter (d, mode) that changed nothing for these likes, and why. Seeds retrieve in order, each taking its best items not yet taken, so
    no item appears twice. k larger than the items left is clamped: params["k_returned"] (and "note") say so.
    A seeded numpy Generator picks the outlier and does the sampling, so a given seed reproduces a run.
    """
    t0 = time.perf_counter()
    vecs = _check_vecs(item_vecs)                                           # (N, D)
    N = len(vecs)
    liked_idx = _check_liked(liked, N)                                      # (n,)
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k={k!r} is not allowed; k must be an integer >= 1")
    k = int(k)
    if isinstance(d, bool) or not isinstance(d, Real) or not 0.0 <= d <= 1.0:
        raise ValueError(f"d={d!r} is not allowed; d is the outlier fraction of k, in [0, 1]")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not allowed; allowed: {', '.join(MODES)}")
    if isinstance(temperature, bool) or not isinstance(temperature, Real) or not temperature > 0:
        raise ValueError(f"temperature={temperature!r} is not allowed; it must be > 0")
    if min_cluster_size is not None and (isinstance(min_cluster_size, bool)
                                         or not isinstance(min_cluster_size, Integral) or min_cluster_size < 2):
        raise ValueError(f"min_cluster_size={min_cluster_size!r} is not allowed; use None or an integer >= 2")
    available = _check_mask(candidates_mask, N)                             # (N,) bool
    available[liked_idx] = False
    n_avail = int(available.sum())
    if n_avail == 0:
        raise ValueError(f"nothing left to recommend: all {N} items are liked ({len(liked_idx)}) or masked out")
    k_eff = min(k, n_avail)
    rng = np.random.default_rng(seed)
    params: dict = {"mode": mode, "k_requested": k, "k_returned": k_eff, "d": float(d), "seed": seed,
                    "temperature": float(temperature), "n_items": N, "n_liked": int(len(liked_idx)),
                    "n_candidates": n_avail, "min_cluster_size_rule": MIN_CLUSTER_SIZE_RULE}
    if k_eff < k:
        params["note"] = f"only {n_avail} items are left to recommend; returning {k_eff} of k={k}"

    if len(liked_idx) == 0:
        mcs = int(min_cluster_size or default_min_cluster_size(N))
        seeds, items, info = _cold_start(vecs, available, k_eff, mcs, collection_labels)
        liked_labels: tuple[int, ...] = ()
        ignored = {"d": "nothing is liked yet (cold start): the seeds are the collection's cluster medoids, no outlier",
                   "mode": "nothing is liked yet (cold start): every collection cluster gives a seed in turn"}
        params.update(branch="cold-start", min_cluster_size=mcs, clustering=info)
    else:
        n = len(liked_idx)
        mcs = int(min_cluster_size or default_min_cluster_size(n))
        liked_vecs = vecs[liked_idx]                                        # (n, D)
        t1 = time.perf_counter()
        labels, info = _cluster_liked(liked_vecs, mcs, vecs)                # (n,) 0 = largest cluster, -1 = noise
        info["seconds"] = round(time.perf_counter() - t1, 4)
        liked_labels = tuple(int(x) for x in labels)
        n_clusters = int(labels.max()) + 1
        params.update(min_cluster_size=mcs, clustering=info, n_clusters=n_clusters)
        if n_clusters == 0:
            seeds, items = _zero_cluster(vecs, liked_idx, available, k_eff, float(temperature), rng)
            params["branch"] = "no-clusters"
            why = ("a single liked item forms none, so it is the only seed" if n == 1 else
                   f"they form none ({info.get('why', 'HDBSCAN found none')}), so every liked item is a seed")
            ignored = {"d": f"d acts only when the liked items form a cluster (D3.2 §4.2.2); {why}",
                       "mode": "mode chooses which cluster medoids are seeds; the liked items form no cluster"}
        else:
            seeds, items, ignored = _cluster_seeds(vecs, liked_idx, labels, available, k_eff, float(d), mode, rng)
            params["branch"] = "one-cluster" if n_clusters == 1 else "clusters"

    split: dict[str, int] = {}
    role_of = {s.index: s.role for s in seeds}
    for it in items:
        split[role_of[it.seed_index]] = split.get(role_of[it.seed_index], 0) + 1
    ild = intra_list_diversity(vecs[[it.index for it in items]]) if items else 0.0
    params["seconds"] = round(time.perf_counter() - t0, 4)
    log.debug("recommend: branch=%s k=%d seeds=%d in %.3fs", params["branch"], k_eff, len(seeds), params["seconds"])
    assert len(items) == k_eff and len({it.index for it in items}) == k_eff
    assert all(s.share == sum(it.seed_index == s.index for it in items) for s in seeds)
    return Recommendation(seeds=tuple(seeds), items=tuple(items), liked_labels=liked_labels, split=split,
                          ild=ild, params=params, ignored=ignored)


# ---- the three branches and cold start --------------------------------------------------------------------------
def _zero_cluster(vecs: np.ndarray, liked_idx: np.ndarray, available: np.ndarray, k: int, temperature: float,
                  rng: np.random.Generator) -> tuple[list[Seed], list[RecommendedItem]]:
    """Every liked item is a seed; pool each seed's top k, sample k from the pool by softmax(score / temperature).

    When k >= n, each seed first takes its own best item not yet taken (credited to it), so every seed gives at least
    one result; the rest are sampled. A sampled item's score is its best cosine to any seed, and that seed is
    credited. With one liked item the pool is exactly its top k, so the result is that seed's top k.
    """
    N = len(vecs)
    best = np.full(N, -np.inf, dtype=np.float32)                            # (N,) best cosine to any seed
    best_seed = np.full(N, -1, dtype=np.int64)                              # (N,) position in liked_idx
    in_pool = np.zeros(N, dtype=bool)
    for start in range(0, len(liked_idx), 256):                             # chunks keep (chunk, N) small
        chunk = liked_idx[start:start + 256]
        sims = vecs[chunk] @ vecs.T                                         # (c, N)
        sims[:, ~available] = -np.inf
        for row, scores in enumerate(sims):
            in_pool[_top(scores, k)] = True
            better = scores > best
            best[better] = scores[better]
            best_seed[better] = start + row
    n = len(liked_idx)
    credit, score = best_seed.copy(), best.copy()                           # (N,) seed position and its cosine
    reserved = np.zeros(N, dtype=bool)
    if 1 < n <= k:                                                          # every seed gives at least one result
        for j in range(n):
            s = vecs @ vecs[liked_idx[j]]                                   # (N,)
            s[~available | reserved] = -np.inf
            i = int(_top(s, 1)[0])
            reserved[i], credit[i], score[i] = True, j, s[i]
    pool = np.flatnonzero(in_pool & ~reserved)                              # (P,) P >= k - n_reserved
    need = k - int(reserved.sum())
    if len(pool) == need:
        drawn = pool
    else:
        pool_scores = best[pool].astype(np.float64)                         # (P,)
        z = (pool_scores - pool_scores.max()) / temperature
        w = np.maximum(np.exp(z), np.finfo(np.float64).tiny)                # no zero weights: k draws must exist
        p = w / w.sum()                                                     # (P,)
        drawn = pool[np.sort(rng.choice(len(pool), size=need, replace=False, p=p))]
    chosen = np.concatenate([np.flatnonzero(reserved), drawn])
    chosen = chosen[np.lexsort((chosen, -score[chosen]))]                   # best first, ties by index
    counts = Counter(int(credit[i]) for i in chosen)
    if n == 1:
        reasons = ["the only liked item"] * n
    else:
        base = f"liked item; no clusters among the {n} liked items, so every liked item is a seed"
        extra = ("its own nearest item first, then the results drawn closest to it" if n <= k else
                 f"k={k} < {n} liked items, so results are drawn by closeness and not every seed gives one")
        reasons = [f"{base} ({extra})"] * n
    seeds = [Seed(int(liked_idx[j]), -1, "liked", reasons[j], counts.get(j, 0)) for j in range(n)]
    items = [RecommendedItem(int(i), float(score[i]), int(liked_idx[credit[i]])) for i in chosen]
    return seeds, items


def _seed_plan(sizes: np.ndarray, mode: str, rest: int) -> tuple[list[int], list[int]]:
    """(clusters whose medoids are seeds, their shares of `rest`) for a mode."""
    used = list(range(len(sizes) if mode == "per-cluster" else min(2, len(sizes))))
    weights = [int(sizes[c]) for c in used] if mode == "per-cluster" else [1] * len(used)
    return used, _apportion(rest, weights)


def _cluster_seeds(vecs: np.ndarray, liked_idx: np.ndarray, labels: np.ndarray, available: np.ndarray, k: int,
                   d: float, mode: str, rng: np.random.Generator
                   ) -> tuple[list[Seed], list[RecommendedItem], dict[str, str]]:
    """Medoid seeds (two largest clusters, or all in per-cluster mode) share (1 - d)·k; a random outlier gets d·k.

    No liked item is an outlier: a random "outer" liked item stands in (D3.2 §4.2.2 keeps d·k for the outlier seed),
    drawn from the members of clusters no medoid seed stands for, else from each cluster's outer half (cosine to its
    medoid at or below the median of its non-medoid members). Returns seeds, items, and the parameters ignored.
    """
    n_clusters = int(labels.max()) + 1
    sizes = np.bincount(labels[labels >= 0], minlength=n_clusters)         # (C,) descending by construction
    n_out = _round_half_up(d * k)
    used, shares = _seed_plan(sizes, mode, k - n_out)
    ignored: dict[str, str] = {}
    if d > 0 and n_out == 0:
        ignored["d"] = f"d·k = {d:g} × {k} = {d * k:.2f} rounds to 0 results, so no outlier seed"
    other = "per-cluster" if mode == "paper" else "paper"
    if _seed_plan(sizes, other, k - n_out) == (used, shares):
        ignored["mode"] = (f"mode {other!r} would pick the same seeds with the same shares: "
                           + ("there is one cluster" if n_clusters == 1 else
                              f"{n_clusters} clusters of sizes {', '.join(str(int(x)) for x in sizes)} split "
                              f"{k - n_out} results the same way"))
    seeds, medoids = [], set()
    for c, share in zip(used, shares):
        members = np.flatnonzero(labels == c)
        m = int(members[_medoid(vecs[liked_idx[members]])])
        medoids.add(m)
        where = "the only cluster" if n_clusters == 1 else f"the {_ordinal(c + 1)} of {n_clusters} clusters"
        why = f"medoid of {where} ({int(sizes[c])} liked items)"
        if share == 0:
            why += f"; its share of the {k - n_out} medoid results rounds to 0"
        seeds.append(Seed(int(liked_idx[m]), c, "medoid", why, share))
    if n_out > 0:
        noise = np.flatnonzero(labels == -1)                                # positions in liked_idx
        if len(noise):
            o = int(rng.choice(noise))
            seeds.append(Seed(int(liked_idx[o]), -1, "outlier",
                              f"random outlier: a liked item in no cluster (one of {len(noise)})", n_out))
        else:
            pool, where = _outer_members(vecs, liked_idx, labels, used, medoids)
            o = int(rng.choice(pool))
            seeds.append(Seed(int(liked_idx[o]), int(labels[o]), "outer",
                              f"random outer liked item standing in for an outlier (no liked item is one): one of "
                              f"{len(pool)} {where}", n_out))
    return seeds, _take_by_shares(vecs, seeds, available), ignored


def _outer_members(vecs: np.ndarray, liked_idx: np.ndarray, labels: np.ndarray, used: list[int],
                   medoids: set[int]) -> tuple[np.ndarray, str]:
    """Positions (in liked_idx) a stand-in outlier is drawn from, and how to say where they come from."""
    unused = np.flatnonzero((labels >= 0) & ~np.isin(labels, used))
    if len(unused):
        return unused, "liked items in clusters no medoid seed stands for"
    outer = []
    for c in np.unique(labels[labels >= 0]):
        members = [int(i) for i in np.flatnonzero(labels == c) if int(i) not in medoids]
        if not members:
            continue
        m = next(int(i) for i in np.flatnonzero(labels == c) if int(i) in medoids)   # every cluster here has a seed
        cos = vecs[liked_idx[members]] @ vecs[liked_idx[m]]                 # (members,)
        outer += [i for i, x in zip(members, cos) if x <= np.median(cos)]
    if not outer:                                                           # clusters of medoids alone (not expected)
        return np.asarray(sorted(medoids)), "medoids (every liked item is a medoid)"
    return np.asarray(sorted(outer)), "liked items in the outer half of their cluster (farthest from its medoid)"


def _cold_start(vecs: np.ndarray, available: np.ndarray, k: int, mcs: int,
                collection_labels: np.ndarray | None) -> tuple[list[Seed], list[RecommendedItem], dict]:
    """Nothing liked: seeds are the collection's cluster medoids (largest first), one result per seed in turn."""
    N = len(vecs)
    if collection_labels is None:
        t1 = time.perf_counter()
        labels = _relabel_by_size(_hdbscan(vecs, mcs, allow_single_cluster=False))
        info: dict = {"source": "computed", "seconds": round(time.perf_counter() - t1, 4)}
    else:
        labels = np.asarray(collection_labels)
        if labels.shape != (N,) or not np.issubdtype(labels.dtype, np.integer) or (N and labels.min() < -1):
            raise ValueError(f"collection_labels must be integers >= -1 of shape ({N},), got dtype {labels.dtype} "
                             f"shape {labels.shape}")
        info = {"source": "given"}
    ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
    order = np.lexsort((ids, -sizes))                                       # largest first, ties by id
    info["n_clusters"] = int(len(ids))
    seeds: list[Seed] = []
    for rank, o in enumerate(order):
        members = np.flatnonzero(labels == ids[o])
        m = int(members[_medoid(vecs[members])])
        seeds.append(Seed(m, int(ids[o]), "collection-medoid",
                          f"cold start: medoid of the {_ordinal(rank + 1)} of {len(ids)} collection clusters "
                          f"({int(sizes[o])} items)", 0))
    if not seeds:
        seeds.append(Seed(int(_medoid(vecs)), -1, "collection-medoid",
                          "cold start: medoid of the whole collection (it has no clusters)", 0))
    # Round-robin: each seed in turn takes its best item not yet taken, until k items.
    ranked = []                                                             # a seed never needs more than its top k
    for s in seeds:
        scores = vecs @ vecs[s.index]                                       # (N,)
        scores[~available] = -np.inf
        ranked.append(_top(scores, k))
    taken: set[int] = set()
    pointer = [0] * len(seeds)
    picks: list[tuple[int, int]] = []                                       # (item, seed position) in pick order
    while len(picks) < k:
        for j in range(len(seeds)):
            if len(picks) == k:
                break
            while ranked[j][pointer[j]] in taken:
                pointer[j] += 1
            i = int(ranked[j][pointer[j]])
            taken.add(i)
            picks.append((i, j))
    counts = Counter(j for _, j in picks)
    seeds = [Seed(s.index, s.cluster, s.role, s.reason + ("" if counts.get(j) else f"; k={k} ran out before its turn"),
                  counts.get(j, 0)) for j, s in enumerate(seeds)]
    items = [RecommendedItem(i, float(vecs[i] @ vecs[seeds[j].index]), seeds[j].index) for i, j in picks]
    return seeds, items, info


# ---- clustering -------------------------------------------------------------------------------------------------
def _cluster_liked(liked_vecs: np.ndarray, mcs: int, vecs: np.ndarray) -> tuple[np.ndarray, dict]:
    """HDBSCAN labels of the liked items, relabelled so 0 is the largest cluster; -1 is an outlier.

    Pass 1 is plain HDBSCAN (allow_single_cluster=False), which can never return exactly one cluster. When it
    finds none, pass 2 allows a single cluster (members: GLOSH outlier score <= SINGLE_CLUSTER_MAX_OUTLIER_SCORE)
    and keeps it only if its members are closer to each other than SINGLE_CLUSTER_NULL_QUANTILE of random same-size
    sets of collection items are; otherwise there are no clusters.
    """
    n = len(liked_vecs)
    none = np.full(n, -1, dtype=np.int64)
    if n < mcs:
        return none, {"pass": "none", "why": f"{n} liked items < min_cluster_size {mcs}"}
    labels = _hdbscan(liked_vecs, mcs, allow_single_cluster=False)
    if labels.max() >= 0:
        return _relabel_by_size(labels), {"pass": "hdbscan"}
    single, outlier_scores = _hdbscan(liked_vecs, mcs, allow_single_cluster=True, glosh=True)
    if single.max() < 0:
        return none, {"pass": "single", "why": "no cluster even when a single one is allowed"}
    if single.max() >= 1:                                                   # not expected after pass 1; keep them
        return _relabel_by_size(single), {"pass": "single"}
    # hdbscan labels only the longest-lived points of a lone root cluster; widen it to every point that leaves it
    # at most 1 / (1 - MAX_OUTLIER_SCORE) times as far out as its densest point (GLOSH outlier score).
    members = (single == 0) | (outlier_scores <= SINGLE_CLUSTER_MAX_OUTLIER_SCORE)
    single = np.where(members, 0, -1)
    if members.sum() < mcs:                                                 # HDBSCAN can return a cluster < mcs
        return none, {"pass": "single", "why": f"the only cluster has {int(members.sum())} < {mcs} members"}
    cohesion = _mean_pairwise_cos(liked_vecs[members])
    baseline = _mean_pairwise_cos(vecs)
    gain = (cohesion - baseline) / max(1.0 - baseline, 1e-9)
    null = _random_set_cohesion(vecs, int(members.sum()))                   # (NULL_DRAWS,)
    bar = float(np.quantile(null, SINGLE_CLUSTER_NULL_QUANTILE))
    info = {"pass": "single", "cohesion": round(cohesion, 4), "baseline": round(baseline, 4),
            "gain": round(gain, 4), "random_quantile": SINGLE_CLUSTER_NULL_QUANTILE, "random_bar": round(bar, 4),
            "beats_random_sets": round(float((null < cohesion).mean()), 3)}
    if cohesion <= bar:
        info["why"] = (f"the only cluster is no tighter than {SINGLE_CLUSTER_NULL_QUANTILE:.0%} of random sets of "
                       f"{int(members.sum())} collection items")
        return none, info
    return _relabel_by_size(single), info


def _hdbscan(vecs: np.ndarray, mcs: int, allow_single_cluster: bool, glosh: bool = False):
    """HDBSCAN labels (and GLOSH outlier scores if asked); euclidean on unit vectors orders pairs as cosine does."""
    import hdbscan
    clusterer = hdbscan.HDBSCAN(min_cluster_size=mcs, metric="euclidean", allow_single_cluster=allow_single_cluster,
                                core_dist_n_jobs=1)
    labels = clusterer.fit_predict(np.asarray(vecs, dtype=np.float64)).astype(np.int64)
    return (labels, np.nan_to_num(clusterer.outlier_scores_, nan=1.0)) if glosh else labels


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... by decreasing size (ties by old label); -1 stays -1."""
    ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
    new = np.full(int(labels.max()) + 2 if len(ids) else 1, -1, dtype=np.int64)
    new[ids[np.lexsort((ids, -sizes))]] = np.arange(len(ids))
    return np.where(labels >= 0, new[np.maximum(labels, 0)], -1)


def _medoid(vecs: np.ndarray) -> int:
    """Row minimising the summed cosine distance to all rows: argmax of v_i · sum_j v_j (unit rows), O(n·D)."""
    v = np.asarray(vecs, dtype=np.float64)
    return int(np.argmax(v @ v.sum(axis=0)))


def _random_set_cohesion(vecs: np.ndarray, m: int) -> np.ndarray:
    """Mean pairwise cosine of NULL_DRAWS random m-item sets of the collection (drawn with replacement: a repeat
    counts as cosine 1, which only raises the bar), from a fixed generator so the answer is the same every call."""
    rng = np.random.default_rng(20260)
    idx = rng.integers(0, len(vecs), size=(NULL_DRAWS, m))                  # (T, m)
    v = np.asarray(vecs, dtype=np.float64)
    s = v[idx].sum(axis=1)                                                  # (T, D)
    return (np.einsum("td,td->t", s, s) - m) / (m * (m - 1))                # unit rows: self-products are 1


def _mean_pairwise_cos(vecs: np.ndarray) -> float:
    """Mean cosine over distinct pairs of unit rows, exact in O(n·D)."""
    v = np.asarray(vecs, dtype=np.float64)
    n = len(v)
    if n < 2:
        return 1.0
    s = v.sum(axis=0)                                                       # (D,)
    return float((s @ s - np.einsum("ij,ij->", v, v)) / (n * (n - 1)))


# ---- retrieval and bookkeeping ----------------------------------------------------------------------------------
def _take_by_shares(vecs: np.ndarray, seeds: list[Seed], available: np.ndarray) -> list[RecommendedItem]:
    """Each seed in order takes its `share` most similar items not yet taken (earlier seeds win overlaps)."""
    free = available.copy()                                                 # (N,)
    items: list[RecommendedItem] = []
    for s in seeds:
        if s.share == 0:
            continue
        scores = vecs @ vecs[s.index]                                       # (N,)
        scores[~free] = -np.inf
        top = _top(scores, s.share)
        free[top] = False
        items += [RecommendedItem(int(i), float(scores[i]), s.index) for i in top]
    return items


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first, ties by index."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


def _apportion(total: int, weights: list[int]) -> list[int]:
    """Split total into integer parts proportional to weights (largest remainder; ties to the heavier, then earlier)."""
    W = sum(weights)
    base = [total * w // W for w in weights]
    rema = [total * w % W for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-rema[i], -weights[i], i))
    for i in order[:total - sum(base)]:
        base[i] += 1
    return base


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + 1e-9)


def _ordinal(r: int) -> str:
    if r == 1:
        return "largest"
    suffix = "th" if 10 <= r % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(r % 10, "th")
    return f"{r}{suffix}-largest"


# ---- input checks -----------------------------------------------------------------------------------------------
def _check_vecs(item_vecs: np.ndarray) -> np.ndarray:
    vecs = np.asarray(item_vecs, dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) == 0 or vecs.shape[1] == 0:
        raise ValueError(f"item_vecs must be a non-empty 2-D array (N, D), got shape {vecs.shape}")
    if not np.all(np.isfinite(vecs)):
        raise ValueError("item_vecs holds NaN or infinite values; only finite vectors are allowed")
    norms = np.linalg.norm(vecs, axis=1)
    off = np.flatnonzero(np.abs(norms - 1.0) > _NORM_TOL)
    if len(off):
        raise ValueError(f"item_vecs rows must be L2-normalised; row {int(off[0])} has norm {float(norms[off[0]]):.4f} "
                         f"({len(off)} rows off by more than {_NORM_TOL})")
    return vecs


def _check_liked(liked: Sequence[int], n: int) -> np.ndarray:
    if isinstance(liked, (str, bytes)) or not hasattr(liked, "__iter__"):
        raise ValueError(f"liked must be a list of row indices, got {type(liked).__name__}")
    raw = list(liked)
    not_int = [x for x in raw if isinstance(x, (bool, np.bool_)) or not isinstance(x, Integral)]
    if not_int:
        raise ValueError(f"liked must hold integer row indices; not allowed: {not_int[:10]!r}")
    ids = [int(x) for x in raw]
    out = sorted({i for i in ids if not 0 <= i < n})
    if out:
        raise ValueError(f"unknown liked ids {out[:10]}; allowed: 0..{n - 1} (item_vecs has {n} rows)")
    repeated = sorted(i for i, c in Counter(ids).items() if c > 1)
    if repeated:
        raise ValueError(f"liked ids repeated: {repeated[:10]}; each liked item may appear only once")
    return np.asarray(ids, dtype=np.int64)


def _check_mask(candidates_mask: np.ndarray | None, n: int) -> np.ndarray:
    if candidates_mask is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(candidates_mask)
    if mask.shape != (n,) or mask.dtype != bool:
        raise ValueError(f"candidates_mask must be a boolean array of shape ({n},), got dtype {mask.dtype} "
                         f"shape {mask.shape}")
    return mask.copy()
