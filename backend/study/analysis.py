"""Study analysis: nDCG@k / P@k per ranker with bootstrap CIs, the sign test, and inter-annotator agreement."""
from __future__ import annotations

import math
import numbers
from itertools import combinations
from typing import Hashable, Optional, Sequence

import numpy as np

Units = dict[Hashable, dict[Hashable, float]]     # item -> {annotator: grade}


# ---- per-query metrics (trec_eval / pytrec_eval definitions) -----------------------------------------------------
def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k={k!r} not allowed; k must be an int >= 1")


def ndcg_at(grades_in_rank_order: Sequence[float], all_grades_for_query: Sequence[float], k: int) -> float:
    """trec_eval / pytrec_eval `ndcg_cut_k`: LINEAR gain = grade (not 2^grade - 1), discount 1 / log2(rank + 1).

    grades_in_rank_order: the grade of each retrieved item, rank 1 first (unjudged = 0);
    all_grades_for_query: every judged grade of the query (the ideal ranking is these, sorted, cut at k).
    Negative grades gain 0. A query with no positive grade scores 0.0 (as pytrec_eval reports it)."""
    _check_k(k)
    ranked = np.clip(np.asarray(list(grades_in_rank_order)[:k], dtype=np.float64), 0, None)       # (<=k,)
    ideal = np.sort(np.clip(np.asarray(list(all_grades_for_query), dtype=np.float64), 0, None))[::-1][:k]
    idcg = float(np.sum(ideal / np.log2(np.arange(2, len(ideal) + 2))))
    if idcg <= 0:
        return 0.0
    dcg = float(np.sum(ranked / np.log2(np.arange(2, len(ranked) + 2))))
    return dcg / idcg


def precision_at(grades: Sequence[float], k: int, threshold: float = 1) -> float:
    """trec_eval `P_k`: (# of the first k items with grade >= threshold) / k; a shorter list still divides by k."""
    _check_k(k)
    return sum(1 for g in list(grades)[:k] if g >= threshold) / k


def per_ranker_metrics(runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]],
                       ks: Sequence[int] = (5, 10), threshold: float = 1, n_resamples: int = 2000,
                       confidence: float = 0.95, seed: int = 0) -> dict:
    """Mean nDCG@k and P@k per ranker over the judged queries, with percentile bootstrap CIs over queries.

    runs: ranker -> query id -> ranked doc ids (best first); qrels: query id -> {doc id: grade}.
    The queries are every query of qrels, for every ranker: a query a ranker did not answer counts 0 (trec_eval -c),
    so all rankers are averaged over the same queries; run queries without judgements are ignored. Unjudged docs
    have grade 0. The bootstrap draws n_resamples resamples of the Q queries with replacement (numpy Generator,
    seed), the SAME resamples for every ranker and metric, and reports the (1 - confidence) / 2 and
    (1 + confidence) / 2 percentiles of the resampled means.
    -> {"queries": [Q ids], "n_queries", "n_resamples", "confidence", "seed", "threshold",
        "rankers": {ranker: {"nDCG@5": {"mean", "ci_low", "ci_high"}, "P@5": {...}, ...,
                             "n_missing": # of queries it did not answer}},
        "per_query": {ranker: {metric: [Q values, in "queries" order]}}}"""
    for k in ks:
        _check_k(k)
    if not ks:
        raise ValueError("ks=() not allowed; give at least one cutoff, e.g. (5, 10)")
    if n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples} not allowed; must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} not allowed; must be in (0, 1), e.g. 0.95")
    if not runs:
        raise ValueError("runs is empty; give at least one ranker -> query -> ranked ids")
    queries = sorted(qrels)
    if not queries:
        raise ValueError("qrels is empty; nothing was judged")
    rng = np.random.default_rng(seed)
    boot_idx = rng.integers(0, len(queries), size=(n_resamples, len(queries)))     # (B, Q) query indices
    lo_pct, hi_pct = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2

    rankers: dict = {}
    per_query: dict = {}
    for ranker, run in runs.items():
        values: dict[str, list[float]] = {f"{m}@{k}": [] for m in ("nDCG", "P") for k in ks}
        n_missing = 0
        for q in queries:
            ranked = run.get(q)
            if ranked is None:
                n_missing += 1
                ranked = []
            if len(set(ranked)) != len(ranked):
                dupes = sorted({d for d in ranked if ranked.count(d) > 1})
                raise ValueError(f"ranker {ranker!r}, query {q!r}: doc ids {dupes} appear more than once")
            judged = qrels[q]
            grades = [judged.get(d, 0) for d in ranked]                             # (len(ranked),) in rank order
            for k in ks:
                values[f"nDCG@{k}"].append(ndcg_at(grades, list(judged.values()), k))
                values[f"P@{k}"].append(precision_at(grades, k, threshold))
        summary: dict = {}
        for metric, vals in values.items():
            arr = np.asarray(vals, dtype=np.float64)                                 # (Q,)
            boot_means = arr[boot_idx].mean(axis=1)                                  # (B,)
            summary[metric] = {"mean": float(arr.mean()), "ci_low": float(np.percentile(boot_means, lo_pct)),
                               "ci_high": float(np.percentile(boot_means, hi_pct))}
        summary["n_missing"] = n_missing
        rankers[ranker] = summary
        per_query[ranker] = values
    return {"queries": queries, "n_queries": len(queries), "n_resamples": int(n_resamples),
            "confidence": float(confidence), "seed": seed, "threshold": threshold,
            "rankers": rankers, "per_query": per_query}


# ---- preference test over interleaving outcomes ------------------------------------------------------------------
def _exact_sign_p(wins_a: int, wins_b: int) -> float:
    """Two-sided exact binomial p at p = 1/2: min(1, 2 * P(X <= min(wins_a, wins_b))), X ~ Bin(n, 1/2)."""
    n = wins_a + wins_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins_a, wins_b) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def sign_test(wins_a: int, wins_b: int, ties: int = 0) -> dict:
    """Two-sided exact sign test of H0 "a and b are preferred equally often", ties left out (n = wins_a + wins_b).

    Uses scipy.stats.binomtest when scipy imports, else the same exact sum with math.comb (they agree: at p = 1/2
    the two-sided test doubles the smaller tail). With n = 0 the p-value is 1.0.
    -> {"wins_a", "wins_b", "ties", "n", "p_value", "method"}"""
    for name, v in (("wins_a", wins_a), ("wins_b", wins_b), ("ties", ties)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"{name}={v!r} not allowed; must be an int >= 0")
    wins_a, wins_b, n = int(wins_a), int(wins_b), int(wins_a) + int(wins_b)
    try:
        from scipy.stats import binomtest
    except ImportError:
        p, method = _exact_sign_p(wins_a, wins_b), "exact binomial (math.comb)"
    else:
        p = float(binomtest(wins_a, n, 0.5, alternative="two-sided").pvalue) if n else 1.0
        method = "scipy.stats.binomtest"
    return {"wins_a": wins_a, "wins_b": wins_b, "ties": int(ties), "n": n, "p_value": p, "method": method}


# ---- inter-annotator agreement -----------------------------------------------------------------------------------
def _check_units(units: Units) -> None:
    for item, by_annotator in units.items():
        if not isinstance(by_annotator, dict):
            raise ValueError(f"units[{item!r}] is a {type(by_annotator).__name__}; expected {{annotator: grade}}")
        for who, g in by_annotator.items():
            if isinstance(g, bool) or not isinstance(g, numbers.Real) or (isinstance(g, float) and math.isnan(g)):
                raise ValueError(f"grade {g!r} by {who!r} on {item!r} not allowed; grades must be numbers")


def krippendorff_alpha_ordinal(units: Units, value_domain: Optional[Sequence[float]] = None) -> Optional[float]:
    """Krippendorff's alpha, ordinal level, from the `krippendorff` package (reliability matrix annotators x items,
    NaN where an annotator did not judge an item).

    value_domain: the ordered grade scale (e.g. range(4)); default: the grades that occur. None when alpha is
    undefined: no item judged by two annotators, or a single grade value throughout (no disagreement is possible)."""
    try:
        import krippendorff
    except ImportError as err:
        raise ImportError("krippendorff_alpha_ordinal needs the 'krippendorff' package: pip install krippendorff "
                          "(it is listed in requirements.txt)") from err
    _check_units(units)
    items = list(units)
    annotators = sorted({w for by in units.values() for w in by}, key=str)
    if not any(len(units[i]) >= 2 for i in items):
        return None
    values = {float(g) for by in units.values() for g in by.values()}
    domain = sorted(float(v) for v in value_domain) if value_domain is not None else sorted(values)
    outside = sorted(values - set(domain))
    if outside:
        raise ValueError(f"grades {outside} are outside value_domain {domain}")
    if len(values) < 2:
        return None
    data = np.full((len(annotators), len(items)), np.nan)                            # (M annotators, N items)
    col = {i: j for j, i in enumerate(items)}
    row = {w: r for r, w in enumerate(annotators)}
    for item, by in units.items():
        for who, g in by.items():
            data[row[who], col[item]] = float(g)
    alpha = krippendorff.alpha(reliability_data=data, value_domain=domain, level_of_measurement="ordinal")
    return None if math.isnan(float(alpha)) else float(alpha)


def cohen_kappa_pairs(units: Units, min_shared: int = 5, weights: Optional[str] = "quadratic",
                      labels: Optional[Sequence[float]] = None) -> dict:
    """Mean pairwise Cohen's kappa (scikit-learn cohen_kappa_score) over annotator pairs sharing >= min_shared items.

    weights="quadratic" (default, for ordinal grades; "linear" or None = unweighted also allowed). labels: the grade
    scale, so every pair is weighted on the same spacing (default: every grade that occurs in units). A pair whose
    kappa is undefined (both gave one identical grade throughout) is listed with kappa None and left out of the mean.
    -> {"mean_kappa": float | None, "weights", "min_shared", "n_pairs": # pairs in the mean,
        "pairs": [{"a", "b", "n_shared", "kappa"}], "skipped": [{"a", "b", "n_shared"}] (too few shared items)}"""
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights={weights!r} not allowed; use 'quadratic', 'linear' or None")
    if isinstance(min_shared, bool) or not isinstance(min_shared, numbers.Integral) or min_shared < 1:
        raise ValueError(f"min_shared={min_shared!r} not allowed; must be an int >= 1")
    _check_units(units)
    from sklearn.metrics import cohen_kappa_score

    scale = sorted({float(v) for v in labels} if labels is not None
                   else {float(g) for by in units.values() for g in by.values()})
    annotators = sorted({w for by in units.values() for w in by}, key=str)
    pairs, skipped = [], []
    for x, y in combinations(annotators, 2):
        shared = [i for i, by in units.items() if x in by and y in by]
        if len(shared) < min_shared:
            skipped.append({"a": x, "b": y, "n_shared": len(shared)})
            continue
        gx = [float(units[i][x]) for i in shared]
        gy = [float(units[i][y]) for i in shared]
        outside = sorted(set(gx + gy) - set(scale))
        if outside:
            raise ValueError(f"grades {outside} by {x!r}/{y!r} are outside labels {scale}")
        if len(set(gx) | set(gy)) < 2:
            kappa: Optional[float] = None                   # one grade throughout: chance agreement is 1, 0 / 0
        else:
            kappa = float(cohen_kappa_score(gx, gy, labels=scale, weights=weights))
            kappa = None if math.isnan(kappa) else kappa
        pairs.append({"a": x, "b": y, "n_shared": len(shared), "kappa": kappa})
    defined = [p["kappa"] for p in pairs if p["kappa"] is not None]
    return {"mean_kappa": float(np.mean(defined)) if defined else None, "weights": weights,
            "min_shared": int(min_shared), "n_pairs": len(defined), "pairs": pairs, "skipped": skipped}
