"""Study analysis: nDCG@k / P@k / bpref per ranker with bootstrap CIs, on condensed lists (judged documents only) and
with unjudged documents as 0, the judged fraction, the sign test, and inter-annotator agreement (overall, per task, per
participant, and the items graders disagree on most)."""
from __future__ import annotations

import math
import numbers
from itertools import combinations
from typing import Hashable, Mapping, Optional, Sequence

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


def condense(ranked: Sequence[str], judged: Mapping) -> list[str]:
    """The condensed list (Sakai 2007): `ranked` with every document that has no judgement removed, order kept.
    Cutting it at k afterwards is what trec_eval / pytrec_eval do with judged_docs_only_flag."""
    return [d for d in ranked if d in judged]


def bpref(ranked: Sequence[str], judged: Mapping[str, float], threshold: float = 1) -> float:
    """trec_eval `bpref` (Buckley & Voorhees 2004) over the whole ranked list: with R judged relevant (grade >=
    threshold) and N judged non-relevant documents, each relevant document retrieved adds
    1 - min(# judged non-relevant ranked above it, R) / min(R, N); the sum is divided by R. Unjudged documents are
    skipped, so condensing does not change it. 0.0 when nothing is relevant."""
    n_rel = sum(1 for g in judged.values() if g >= threshold)
    n_nonrel = len(judged) - n_rel
    if n_rel == 0:
        return 0.0
    total, nonrel_above = 0.0, 0
    for d in ranked:
        if d not in judged:
            continue
        if judged[d] >= threshold:
            total += 1.0 - (min(nonrel_above, n_rel) / min(n_rel, n_nonrel) if nonrel_above else 0.0)
        else:
            nonrel_above += 1
    return total / n_rel


def judged_fraction(runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]],
                    ks: Sequence[int] = (5, 10)) -> dict:
    """How much of each ranker's own top k has a judgement, over the judged queries: {ranker: {"@5": fraction,
    ...}}, pooled (judged documents / documents in the top k, summed over queries; None when the ranker returned
    nothing). With unjudged documents counted as 0, a fraction well under 1 makes nDCG / P@k a measure of what
    was shown as much as of the ranker."""
    for k in ks:
        _check_k(k)
    out: dict = {}
    for ranker, run in runs.items():
        out[ranker] = {}
        for k in ks:
            top = [(q, d) for q in qrels for d in run.get(q, [])[:k]]
            hit = sum(1 for q, d in top if d in qrels[q])
            out[ranker][f"@{k}"] = hit / len(top) if top else None
    return out


def per_ranker_metrics(runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]],
                       ks: Sequence[int] = (5, 10), threshold: float = 1, n_resamples: int = 2000,
                       confidence: float = 0.95, seed: int = 0, condensed: bool = False) -> dict:
    """Mean nDCG@k, P@k and bpref per ranker over the judged queries, with percentile bootstrap CIs over queries.

    runs: ranker -> query id -> ranked doc ids (best first); qrels: query id -> {doc id: grade}.
    The queries are every query of qrels, for every ranker: a query a ranker did not answer counts 0 (trec_eval -c),
    so all rankers are averaged over the same queries; run queries without judgements are ignored.
    condensed=False: unjudged docs have grade 0 (trec_eval's default). condensed=True: each ranked list is condensed
    first (unjudged docs removed, then cut at k), as pytrec_eval's judged_docs_only_flag does; with judgements only
    for what a participant was shown, this is the figure that does not punish a ranker for unshown documents.
    bpref ignores unjudged docs either way. The bootstrap draws n_resamples resamples of the Q queries with
    replacement (numpy Generator, seed), the SAME resamples for every ranker and metric, and reports the (1 - confidence) / 2 and
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
        values["bpref"] = []
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
            values["bpref"].append(bpref(ranked, judged, threshold))
            if condensed:
                ranked = condense(ranked, judged)
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
            "confidence": float(confidence), "seed": seed, "threshold": threshold, "condensed": bool(condensed),
            "rankers": rankers, "per_query": per_query}


def ranker_metrics(runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]],
                   ks: Sequence[int] = (5, 10), seed: int = 0, **kw) -> dict:
    """The dashboard's per-ranker figures: the condensed ones as the headline ("rankers", as per_ranker_metrics with
    condensed=True), the unjudged-as-0 ones beside them ("unjudged_as_0": {ranker: summary}), and how much of each
    ranker's top k was judged ("judged_fraction", see judged_fraction). per_query values are left out."""
    head = per_ranker_metrics(runs, qrels, ks, seed=seed, condensed=True, **kw)
    zero = per_ranker_metrics(runs, qrels, ks, seed=seed, condensed=False, **kw)
    head.pop("per_query", None)
    return {**head, "unjudged_as_0": zero["rankers"], "judged_fraction": judged_fraction(runs, qrels, ks)}


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


def agreement_by_group(units: Units, group_of, value_domain: Optional[Sequence[float]] = None) -> list[dict]:
    """Krippendorff's alpha (ordinal) within each group of items (e.g. per task: group_of = the item's query id),
    over the items of the group judged by >= 2 annotators; groups without such an item are left out.
    -> [{"group", "items": # items judged twice or more, "graders": # annotators on them, "alpha": float | None}],
    sorted by group."""
    groups: dict = {}
    for item, by in units.items():
        if len(by) >= 2:
            groups.setdefault(group_of(item), {})[item] = by
    return [{"group": g, "items": len(its), "graders": len({w for by in its.values() for w in by}),
             "alpha": krippendorff_alpha_ordinal(its, value_domain)}
            for g, its in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def annotator_agreement(units: Units) -> list[dict]:
    """Each annotator against the others on the items they share: "items" (judged by them and >= 1 other),
    "mean_abs_diff" (mean |own grade - median of the others' grades|) and "exact" (share of those items where the
    own grade equals that median). Annotators with no shared item are left out; sorted by mean_abs_diff, largest
    first (the one who disagrees most on top)."""
    _check_units(units)
    diffs: dict = {}
    for by in units.values():
        if len(by) < 2:
            continue
        for who, g in by.items():
            others = [float(v) for w, v in by.items() if w != who]
            diffs.setdefault(who, []).append(abs(float(g) - float(np.median(others))))
    rows = [{"annotator": w, "items": len(d), "mean_abs_diff": float(np.mean(d)),
             "exact": sum(1 for x in d if x == 0) / len(d)} for w, d in diffs.items()]
    return sorted(rows, key=lambda r: (-r["mean_abs_diff"], str(r["annotator"])))


def most_disagreed(units: Units, n: int = 10) -> list[dict]:
    """The n items judged by >= 2 annotators whose grades spread most: sorted by range (max - min), then standard
    deviation, both largest first; items in full agreement are left out.
    -> [{"item", "grades": sorted grades, "graders", "range", "std"}]"""
    _check_units(units)
    rows = []
    for item, by in units.items():
        if len(by) < 2:
            continue
        g = sorted(float(v) for v in by.values())
        if g[-1] == g[0]:
            continue
        rows.append({"item": item, "grades": g, "graders": len(g), "range": g[-1] - g[0],
                     "std": float(np.std(g))})
    rows.sort(key=lambda r: (-r["range"], -r["std"], str(r["item"])))
    return rows[:n]
