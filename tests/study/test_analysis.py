"""Study analysis: nDCG/P@k against pytrec_eval, bootstrap CIs, sign test, Cohen's kappa and Krippendorff's alpha."""
from __future__ import annotations

import importlib.util
import math
import random

import numpy as np
import pytest

from backend.study import analysis
from backend.study.analysis import (_exact_sign_p, cohen_kappa_pairs, krippendorff_alpha_ordinal, ndcg_at,
                                    per_ranker_metrics, precision_at, sign_test)

TOL = 1e-9
HAS_KRIPPENDORFF = importlib.util.find_spec("krippendorff") is not None
NO_KRIPP = "the 'krippendorff' package is not installed (pip install krippendorff)"


# ---- nDCG / P@k ----------------------------------------------------------------------------------------------------
def test_ndcg_worked_example():
    # ranked grades [3, 2, 0, 1], judged grades {3, 2, 1, 0, 0}, k = 5, linear gain:
    # DCG  = 3/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5) = 3 + 1.26186 + 0 + 0.43068 = 4.69254
    # IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4)              = 3 + 1.26186 + 0.5       = 4.76186
    # nDCG@5 = 0.98544
    dcg = 3 + 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 3 + 2 / math.log2(3) + 1 / 2
    assert ndcg_at([3, 2, 0, 1], [3, 2, 1, 0, 0], 5) == pytest.approx(dcg / idcg, abs=TOL)
    assert ndcg_at([3, 2, 0, 1], [3, 2, 1, 0, 0], 5) == pytest.approx(0.98544, abs=1e-5)
    # k = 1: rank 1 has grade 3 = the ideal's first -> 1.0
    # k = 2 with the best two swapped: (2 + 3/log2 3) / (3 + 2/log2 3)
    assert ndcg_at([3, 2, 0, 1], [3, 2, 1], 1) == pytest.approx(1.0)
    assert ndcg_at([2, 3], [3, 2], 2) == pytest.approx((2 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)), abs=TOL)
    # nothing relevant judged -> 0.0; empty ranking -> 0.0
    assert ndcg_at([0, 0], [0, 0, 0], 5) == 0.0
    assert ndcg_at([], [1, 2], 5) == 0.0


def test_precision_worked_example():
    # first 5 of [3, 0, 1, 2, 0, 3]: grades >= 1 are 3, 1, 2 -> 3/5; >= 2 are 3, 2 -> 2/5
    assert precision_at([3, 0, 1, 2, 0, 3], 5) == pytest.approx(0.6)
    assert precision_at([3, 0, 1, 2, 0, 3], 5, threshold=2) == pytest.approx(0.4)
    # a list shorter than k still divides by k (trec_eval P_k): 1 relevant of 2 shown, k = 10 -> 0.1
    assert precision_at([1, 0], 10) == pytest.approx(0.1)


def test_bad_k():
    with pytest.raises(ValueError, match="k=0"):
        ndcg_at([1], [1], 0)
    with pytest.raises(ValueError, match="k="):
        precision_at([1], 2.0)


def _random_qrels_runs(seed: int, n_queries: int = 25):
    """Seeded qrels (grades 0-3, some queries with no relevant doc) and two runs of 0-15 docs, some unjudged."""
    rng = random.Random(seed)
    pool = [f"museum-{i:04d}" for i in range(40)] + [f"game-{i:04d}" for i in range(20)]
    qrels, runs = {}, {"hicalm": {}, "baseline": {}}
    for q in range(n_queries):
        qid = f"q{q:03d}"
        judged = rng.sample(pool, rng.randint(3, 25))
        top = 0 if q % 7 == 0 else 3                       # every 7th query: all grades 0
        qrels[qid] = {d: rng.randint(0, top) for d in judged}
        for ranker in runs:
            runs[ranker][qid] = rng.sample(pool, rng.randint(0, 15))
    return qrels, runs


def test_metrics_agree_with_pytrec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, runs = _random_qrels_runs(seed=11, n_queries=30)
    ours = per_ranker_metrics(runs, qrels, ks=(5, 10), n_resamples=200)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5,10", "P.5,10"})
    for ranker, run in runs.items():
        # distinct descending scores so trec_eval's order is exactly the list order (no tie-breaking by doc id)
        scored = {q: {d: float(len(ids) - r) for r, d in enumerate(ids)} for q, ids in run.items()}
        ref = evaluator.evaluate(scored)               # pytrec_eval leaves out queries with an empty ranking
        queries = ours["queries"]
        for metric, ref_key in (("nDCG@5", "ndcg_cut_5"), ("nDCG@10", "ndcg_cut_10"), ("P@5", "P_5"),
                                ("P@10", "P_10")):
            mine = dict(zip(queries, ours["per_query"][ranker][metric]))
            for q in queries:
                expected = ref[q][ref_key] if q in ref else 0.0
                assert mine[q] == pytest.approx(expected, abs=1e-6), (ranker, q, metric)
            ref_mean = np.mean([ref[q][ref_key] if q in ref else 0.0 for q in queries])
            assert ours["rankers"][ranker][metric]["mean"] == pytest.approx(ref_mean, abs=1e-6)


def test_cis_contain_the_mean_and_are_reproducible():
    qrels, runs = _random_qrels_runs(seed=5)
    out = per_ranker_metrics(runs, qrels)
    assert out["n_queries"] == 25 and out["n_resamples"] == 2000 and out["confidence"] == 0.95
    for ranker in runs:
        for metric in ("nDCG@5", "nDCG@10", "P@5", "P@10"):
            m = out["rankers"][ranker][metric]
            assert m["ci_low"] <= m["mean"] <= m["ci_high"], (ranker, metric, m)
            assert m["ci_low"] < m["ci_high"]
        assert out["rankers"][ranker]["n_missing"] == 0
    assert per_ranker_metrics(runs, qrels) == out                                  # same seed, same CIs
    other = per_ranker_metrics(runs, qrels, seed=1)
    assert other["rankers"]["hicalm"]["nDCG@10"]["mean"] == out["rankers"]["hicalm"]["nDCG@10"]["mean"]
    assert other["rankers"]["hicalm"]["nDCG@10"]["ci_low"] != out["rankers"]["hicalm"]["nDCG@10"]["ci_low"]


def test_missing_query_counts_zero_and_unjudged_query_is_ignored():
    qrels = {"q1": {"m1": 3, "m2": 1}, "q2": {"m3": 2}}
    runs = {"hicalm": {"q1": ["m1", "m2"], "q2": ["m3"], "q-unjudged": ["m9"]},
            "baseline": {"q1": ["m2", "m1"]}}                                       # q2 missing -> 0 (trec_eval -c)
    out = per_ranker_metrics(runs, qrels, ks=(5,), n_resamples=50)
    assert out["queries"] == ["q1", "q2"]
    assert out["rankers"]["hicalm"]["nDCG@5"]["mean"] == pytest.approx(1.0)
    # baseline q1: DCG = 1 + 3/log2 3, IDCG = 3 + 1/log2 3; q2: 0
    q1 = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert out["per_query"]["baseline"]["nDCG@5"] == pytest.approx([q1, 0.0])
    assert out["rankers"]["baseline"]["n_missing"] == 1
    # P@5: hicalm q1 2/5, q2 1/5 -> mean 0.3
    assert out["rankers"]["hicalm"]["P@5"]["mean"] == pytest.approx(0.3)


def test_per_ranker_metrics_rejects_bad_input():
    qrels = {"q1": {"m1": 1}}
    with pytest.raises(ValueError, match="more than once"):
        per_ranker_metrics({"r": {"q1": ["m1", "m1"]}}, qrels)
    with pytest.raises(ValueError, match="qrels is empty"):
        per_ranker_metrics({"r": {}}, {})
    with pytest.raises(ValueError, match="confidence"):
        per_ranker_metrics({"r": {}}, qrels, confidence=95)
    with pytest.raises(ValueError, match="k=0"):
        per_ranker_metrics({"r": {}}, qrels, ks=(0,))


# ---- sign test -----------------------------------------------------------------------------------------------------
def test_sign_test_worked_examples():
    # 9 vs 1: n = 10, P(X <= 1) = (C(10,0) + C(10,1)) / 2^10 = 11/1024; two-sided 22/1024 = 0.021484
    out = sign_test(9, 1, ties=4)
    assert out["p_value"] == pytest.approx(22 / 1024, abs=1e-12)
    assert (out["n"], out["wins_a"], out["wins_b"], out["ties"]) == (10, 9, 1, 4)
    # 1 vs 9 is the same; 5 vs 5 -> 1.0; 0 vs 0 -> 1.0
    assert sign_test(1, 9)["p_value"] == pytest.approx(22 / 1024, abs=1e-12)
    assert sign_test(5, 5)["p_value"] == pytest.approx(1.0)
    assert sign_test(0, 0) == {"wins_a": 0, "wins_b": 0, "ties": 0, "n": 0, "p_value": 1.0,
                               "method": sign_test(0, 0)["method"]}
    # 15 vs 5: P(X <= 5) = (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20 = 21700 / 1048576; doubled = 0.041389
    assert sign_test(15, 5)["p_value"] == pytest.approx(2 * 21700 / 2 ** 20, abs=1e-12)
    # 6 vs 0: 2 / 64 = 0.03125
    assert sign_test(6, 0)["p_value"] == pytest.approx(2 / 64, abs=1e-12)


def test_sign_test_fallback_agrees_with_scipy():
    pytest.importorskip("scipy")
    from scipy.stats import binomtest
    for a in range(0, 30):
        for b in range(0, 30):
            n = a + b
            expected = binomtest(a, n, 0.5).pvalue if n else 1.0
            assert _exact_sign_p(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-15), (a, b)
    assert sign_test(9, 1)["method"] == "scipy.stats.binomtest"


def test_sign_test_without_scipy(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError("scipy hidden for this test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    out = sign_test(9, 1)
    assert out["method"] == "exact binomial (math.comb)" and out["p_value"] == pytest.approx(22 / 1024)


def test_sign_test_rejects_bad_counts():
    with pytest.raises(ValueError, match="wins_a=-1"):
        sign_test(-1, 3)
    with pytest.raises(ValueError, match="wins_b"):
        sign_test(1, 2.5)


# ---- agreement -----------------------------------------------------------------------------------------------------
def test_cohen_kappa_hand_example():
    pytest.importorskip("sklearn")
    from sklearn.metrics import cohen_kappa_score
    r1 = [0, 1, 2, 3, 3, 0]
    r2 = [0, 1, 2, 3, 2, 1]
    # quadratic weights w = (i - j)^2 on the scale 0..3, kappa = 1 - sum(w O) / sum(w E):
    # observed: two disagreements (3 vs 2, 0 vs 1), each w = 1 -> sum(w O) = 2 (counts)
    # expected: sum over all 6 x 6 rating pairs (x - y)^2 / 6 = (6*sum x^2 + 6*sum y^2 - 2*sum x*sum y) / 6
    #           = (6*23 + 6*19 - 2*9*9) / 6 = 90 / 6 = 15
    # kappa = 1 - 2/15 = 13/15 = 0.8667
    units = {f"museum-{i:04d}": {"ann1": g1, "ann2": g2} for i, (g1, g2) in enumerate(zip(r1, r2))}
    out = cohen_kappa_pairs(units)
    assert out["weights"] == "quadratic" and out["n_pairs"] == 1
    assert out["mean_kappa"] == pytest.approx(13 / 15, abs=1e-12)
    assert out["mean_kappa"] == pytest.approx(cohen_kappa_score(r1, r2, weights="quadratic"), abs=1e-12)
    assert out["pairs"] == [{"a": "ann1", "b": "ann2", "n_shared": 6, "kappa": pytest.approx(13 / 15)}]
    unweighted = cohen_kappa_pairs(units, weights=None)["mean_kappa"]
    assert unweighted == pytest.approx(cohen_kappa_score(r1, r2), abs=1e-12)


def test_cohen_kappa_pairs_mean_and_skipped():
    pytest.importorskip("sklearn")
    from sklearn.metrics import cohen_kappa_score
    # ann1 & ann2 share 6 items, ann1 & ann3 share 5, ann2 & ann3 share 4 (items 2-5, < 5: skipped)
    g1 = [0, 1, 2, 3, 3, 0, 1]
    g2 = [0, 1, 2, 3, 2, 1]
    g3 = {2: 2, 3: 3, 4: 3, 5: 1, 6: 1}
    units: dict = {}
    for i, g in enumerate(g1):
        units.setdefault(i, {})["ann1"] = g
    for i, g in enumerate(g2):
        units.setdefault(i, {})["ann2"] = g
    for i, g in g3.items():
        units.setdefault(i, {})["ann3"] = g
    out = cohen_kappa_pairs(units, labels=range(4))
    k12 = cohen_kappa_score(g1[:6], g2, weights="quadratic", labels=[0, 1, 2, 3])
    k13 = cohen_kappa_score([g1[i] for i in g3], list(g3.values()), weights="quadratic", labels=[0, 1, 2, 3])
    assert [(p["a"], p["b"], p["n_shared"]) for p in out["pairs"]] == [("ann1", "ann2", 6), ("ann1", "ann3", 5)]
    assert out["skipped"] == [{"a": "ann2", "b": "ann3", "n_shared": 4}]
    assert out["mean_kappa"] == pytest.approx((k12 + k13) / 2, abs=1e-12)


def test_cohen_kappa_undefined_pair_and_bad_input():
    units = {i: {"x": 2, "y": 2} for i in range(6)}                 # one grade throughout: kappa is 0 / 0
    out = cohen_kappa_pairs(units)
    assert out["mean_kappa"] is None and out["pairs"][0]["kappa"] is None and out["n_pairs"] == 0
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa_pairs(units, weights="cubic")
    with pytest.raises(ValueError, match="grade 'good'"):
        cohen_kappa_pairs({1: {"x": "good"}})


KRIPP_2011 = [  # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", 4 observers x 12 units, nan = none
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _units_from_matrix(matrix) -> dict:
    units: dict = {}
    for r, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v is not None:
                units.setdefault(f"unit-{j:02d}", {})[f"obs{r}"] = v
    return units


@pytest.mark.skipif(not HAS_KRIPPENDORFF, reason=NO_KRIPP)
def test_alpha_equals_the_krippendorff_package():
    import krippendorff
    small = [[0, 1, 2, 3, 3, None, 1],
             [0, 1, 3, 3, 2, 1, None],
             [1, 1, 2, None, 3, 0, 1]]
    data = np.array([[np.nan if v is None else v for v in row] for row in small], dtype=float)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    assert krippendorff_alpha_ordinal(_units_from_matrix(small)) == pytest.approx(float(expected), abs=1e-12)
    # the published example: ordinal alpha = 0.815 (nominal 0.743, interval 0.849)
    assert krippendorff_alpha_ordinal(_units_from_matrix(KRIPP_2011)) == pytest.approx(0.815, abs=5e-4)
    # an explicit value domain containing unused grades leaves the ordinal alpha unchanged
    assert krippendorff_alpha_ordinal(_units_from_matrix(KRIPP_2011), value_domain=range(0, 7)) == \
        pytest.approx(krippendorff_alpha_ordinal(_units_from_matrix(KRIPP_2011)), abs=1e-12)


@pytest.mark.skipif(not HAS_KRIPPENDORFF, reason=NO_KRIPP)
def test_alpha_undefined_and_bad_domain():
    assert krippendorff_alpha_ordinal({"m1": {"x": 1}, "m2": {"y": 2}}) is None           # no item judged twice
    assert krippendorff_alpha_ordinal({"m1": {"x": 1, "y": 1}, "m2": {"x": 1, "y": 1}}) is None   # one value
    with pytest.raises(ValueError, match="outside value_domain"):
        krippendorff_alpha_ordinal({"m1": {"x": 1, "y": 5}}, value_domain=range(4))


def test_alpha_without_the_package_names_it(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_krippendorff(name, *args, **kwargs):
        if name == "krippendorff":
            raise ImportError("hidden for this test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_krippendorff)
    with pytest.raises(ImportError, match="pip install krippendorff"):
        analysis.krippendorff_alpha_ordinal({"m1": {"x": 1, "y": 2}})
