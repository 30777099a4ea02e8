"""Retrieval metrics as the reference computes them: R@K, MedR, concept-overlap nDCG, and nDCG@K on TREC qrels."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Optional, Sequence

import numpy as np

# ---- ranks, R@K, MedR -------------------------------------------------------------------------------------------


def gt_ranks(sim: np.ndarray, gt: Optional[Sequence[int]] = None) -> np.ndarray:
    """(Q, N) similarities -> (Q,) 0-based rank of each query's ground-truth item (default: the diagonal).
    Ties count in the query's favour (rank = number of items scored strictly higher)."""
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be (queries, items), got shape {sim.shape}")
    Q, N = sim.shape
    if gt is None:
        if Q > N:
            raise ValueError(f"diagonal ground truth needs queries <= items, got {Q} x {N}; pass gt")
        gt = np.arange(Q)
    gt = np.asarray(gt, dtype=np.int64)
    if gt.shape != (Q,) or (Q and (gt.min() < 0 or gt.max() >= N)):
        raise ValueError(f"gt must be ({Q},) indices in [0, {N}), got shape {gt.shape}")
    gt_scores = sim[np.arange(Q), gt]                                                      # (Q,)
    return (sim > gt_scores[:, None]).sum(1)


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries whose 0-based rank < k."""
    return float(np.mean(np.asarray(ranks) < k)) if len(ranks) else 0.0


def median_rank(ranks: np.ndarray) -> float:
    """Median of the 1-based ranks (reference: median(0-based) + 1)."""
    return float(np.median(ranks) + 1) if len(ranks) else 0.0


def rank_metrics(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    out = {f"R@{k}": recall_at_k(ranks, k) for k in ks}
    out["MedR"] = median_rank(ranks)
    out["MeanR"] = float(np.mean(ranks) + 1) if len(ranks) else 0.0
    return out


def retrieval_metrics(sim_text_to_metaverse: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict[str, float]]:
    """Square (Q, Q) text x metaverse similarity with ground truth on the diagonal -> both directions."""
    sim = np.asarray(sim_text_to_metaverse)
    return {"text_to_metaverse": rank_metrics(gt_ranks(sim), ks),
            "metaverse_to_text": rank_metrics(gt_ranks(sim.T), ks)}


# ---- concept-overlap relevance (reference nDCG) -----------------------------------------------------------------
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves s t don shall may might must also one two three four five six
seven eight nine ten
""".split())
# description boilerplate that says nothing about content (the reference keeps a similar hand-made list)
DESCRIPTION_WORDS = frozenset("""
museum museums room rooms painting paintings picture pictures image images artwork artworks work works first second
third fourth fifth sixth seventh eighth ninth tenth last next following titled described depicts depicting shows
shown showing view views scene scenes segment segments video videos frame frames game world level contains
containing holds holding displayed exhibition collection features featuring style like many several another
""".split())
_TOKEN = re.compile(r"[a-z][a-z'\-]*[a-z]|[a-z]")


def description_concepts(text: str, n: int = 10) -> list[str]:
    """The n most frequent content words of a description (ties: first occurrence first)."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS and w not in DESCRIPTION_WORDS]
    return [w for w, _ in Counter(words).most_common(n)]


def concept_relevance(concepts: Sequence[Sequence[str]]) -> np.ndarray:
    """(Q, Q) Jaccard overlap of concept sets (two empty sets: 0)."""
    sets = [set(c) for c in concepts]
    Q = len(sets)
    rel = np.zeros((Q, Q), dtype=np.float64)
    for i in range(Q):
        for j in range(i, Q):
            union = len(sets[i] | sets[j])
            rel[i, j] = rel[j, i] = len(sets[i] & sets[j]) / union if union else 0.0
    return rel


def _reference_dcg(rels: np.ndarray) -> float:
    """Reference DCG: gain e^rel - 1; rank 1 undiscounted, rank p >= 2 divided by ln(p + 1)."""
    if len(rels) == 0:
        return 0.0
    gains = np.expm1(np.asarray(rels, dtype=np.float64))
    return float(gains[0] + np.sum(gains[1:] / np.log(np.arange(2, len(gains) + 1) + 1)))


def concept_ndcg(sim: np.ndarray, relevance: np.ndarray, k: int, threshold: float = 0.5) -> float:
    """Mean nDCG@k as the reference computes it: for query q the list is cut at min(k, #items with relevance >
    threshold to q); IDCG comes from the best relevances over all items, cut at the same length.
    sim: (Q, N) query x item scores; relevance: (Q, N) graded relevance of item j to query q."""
    sim, relevance = np.asarray(sim, np.float64), np.asarray(relevance, np.float64)
    if sim.shape != relevance.shape:
        raise ValueError(f"sim {sim.shape} and relevance {relevance.shape} must have the same shape")
    values = []
    for q in range(sim.shape[0]):
        cut = max(1, min(k, int((relevance[q] > threshold).sum())))
        top = np.argsort(-sim[q], kind="stable")[:cut]
        ideal = _reference_dcg(np.sort(relevance[q])[::-1][:cut])
        values.append(_reference_dcg(relevance[q, top]) / ideal if ideal > 0 else 0.0)
    return float(np.mean(values)) if values else 0.0


# ---- nDCG@K on explicit TREC-style qrels (trec_eval's ndcg_cut) --------------------------------------------------
def ndcg_qrels(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], k: int = 10,
               missing_as_zero: bool = False) -> dict:
    """trec_eval `ndcg_cut_k`: linear gain = grade, discount 1/log2(rank + 1), ideal from all judged docs.
    Queries are those in both run and qrels (as pytrec_eval reports them); with missing_as_zero, qrels queries absent
    from the run count 0. Ranking: score descending, ties by doc id descending (trec_eval's order).
    -> {"mean": float, "per_query": {qid: float}}"""
    if k < 1:
        raise ValueError(f"k={k} must be >= 1")
    per_query: dict[str, float] = {}
    for qid, judged in qrels.items():
        if qid not in run:
            if missing_as_zero:
                per_query[qid] = 0.0
            continue
        ranked = sorted(run[qid].items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:k]
        dcg = sum(max(judged.get(doc, 0), 0) / math.log2(i + 2) for i, (doc, _) in enumerate(ranked))
        ideal_grades = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_grades))
        per_query[qid] = dcg / idcg if idcg > 0 else 0.0
    mean = float(np.mean(list(per_query.values()))) if per_query else 0.0
    return {"mean": mean, "per_query": per_query}


# ---- uncertainty of a mean over a few dozen queries --------------------------------------------------------------
BOOTSTRAP_RESAMPLES = 2000


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> Optional[list[float]]:
    """[low, high] percentile-bootstrap interval of the mean of per-query values (scipy.stats.bootstrap, seeded, so a
    report is reproducible); None with fewer than two values. For paired systems, pass the per-query differences."""
    from scipy.stats import bootstrap
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2:
        return None
    ci = bootstrap((x,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=confidence,
                   method="percentile", random_state=seed).confidence_interval
    return [round(float(ci.low), 4) + 0.0, round(float(ci.high), 4) + 0.0]   # + 0.0: no "-0.0" in reports


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Mean of a - b over the same queries, with its bootstrap interval: an interval above zero says a beats b on
    this query set beyond what the choice of queries explains."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return {"diff": round(float(d.mean()), 4) + 0.0 if len(d) else None, "ci95": bootstrap_ci(d), "n": int(len(d))}
