"""R@K / MedR on a handmade matrix, concept nDCG, and qrels nDCG against pytrec_eval."""
import numpy as np
import pytest

from backend.eval.evaluate import evaluate_baseline, evaluate_ranker_embeddings, qrels_ndcg
from backend.eval.metrics import (concept_ndcg, concept_relevance, description_concepts, gt_ranks, median_rank,
                             ndcg_qrels, recall_at_k, retrieval_metrics)
from backend.data.synthetic import make_synthetic_collection

# rows = text queries, columns = metaverses, truth on the diagonal
SIM = np.array([[0.9, 0.1, 0.2, 0.3],     # rank 0
                [0.8, 0.5, 0.1, 0.0],     # rank 1
                [0.1, 0.7, 0.6, 0.65],    # rank 2
                [0.9, 0.8, 0.7, 0.1]])    # rank 3


def test_ranks_recall_medr():
    ranks = gt_ranks(SIM)
    assert ranks.tolist() == [0, 1, 2, 3]
    assert recall_at_k(ranks, 1) == 0.25 and recall_at_k(ranks, 2) == 0.5 and recall_at_k(ranks, 10) == 1.0
    assert median_rank(ranks) == 2.5            # median(0-based) + 1
    assert gt_ranks(SIM, gt=[0, 0, 1, 0]).tolist() == [0, 0, 0, 0]
    both = retrieval_metrics(SIM)
    assert gt_ranks(SIM.T).tolist() == [0, 2, 1, 2]   # ties count in the query's favour
    assert both["metaverse_to_text"]["R@1"] == 0.25 and both["metaverse_to_text"]["MedR"] == 2.5
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        gt_ranks(SIM, gt=[0, 1, 2, 4])


def test_qrels_ndcg_equals_pytrec_eval():
    import pytrec_eval  # a dev requirement: the check must run, never skip
    qrels = {"q1": {"d1": 2, "d2": 0, "d3": 1, "d4": 3, "d9": 1},
             "q2": {"d1": 1, "d5": 2},
             "q3": {"d2": 0}}
    run = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.1, "d5": 0.5, "d6": 0.45, "d7": 0.3, "d8": 0.2,
                  "d10": 0.15, "d11": 0.12, "d12": 0.11, "d9": 0.05},
           "q2": {"d5": 0.2, "d1": 0.1, "d3": 0.05},
           "q3": {"d2": 1.0, "d1": 0.5}}
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "ndcg_cut_5"}).evaluate(run)
    for k in (5, 10):
        ours = qrels_ndcg(qrels, run, k)
        for qid, measures in ref.items():
            assert ours["per_query"][qid] == pytest.approx(measures[f"ndcg_cut_{k}"], abs=1e-6)
        assert ours["mean"] == pytest.approx(np.mean([m[f"ndcg_cut_{k}"] for m in ref.values()]), abs=1e-6)
    assert ndcg_qrels({"q1": {"a": 1}, "q9": {"b": 1}}, {"q1": {"a": 1.0}}, missing_as_zero=True)["mean"] == 0.5


def test_concepts_and_reference_ndcg():
    concepts = description_concepts("In the first room, there are 3 paintings. A stormy sea. Stormy waves, "
                                    "a sea at night.", 3)
    assert concepts == ["stormy", "sea", "waves"]
    rel = concept_relevance([["a", "b"], ["a", "c"], ["d"]])
    assert rel[0, 1] == pytest.approx(1 / 3) and rel[0, 2] == 0 and rel[2, 2] == 1
    # a perfect ranking (by relevance) scores 1; the reverse less
    assert concept_ndcg(rel, rel, 10) == pytest.approx(1.0)
    assert concept_ndcg(-rel, rel, 10) < 1.0


def test_evaluate_functions_shapes():
    coll = make_synthetic_collection(40, seed=2, dim=16)
    out = evaluate_baseline(coll, "train")
    assert set(out["text_to_metaverse"]) >= {"R@1", "R@5", "R@10", "MedR", "nDCG@5", "nDCG@10"}
    vecs = np.eye(5, 8)
    perfect = evaluate_ranker_embeddings(vecs, vecs, [["x"]] * 5)
    assert perfect["text_to_metaverse"]["R@1"] == 1.0 and perfect["metaverse_to_text"]["MedR"] == 1.0


def test_bootstrap_interval_of_a_mean():
    from backend.eval.metrics import bootstrap_ci
    x = [1.0] * 10 + [0.0] * 3                      # 10 of 13 queries found their target
    lo, hi = bootstrap_ci(x)
    assert lo < 10 / 13 < hi and 0.4 < lo and hi == 1.0
    assert bootstrap_ci(x) == [lo, hi]              # seeded: the same report every run
    assert bootstrap_ci([1.0] * 13) == [1.0, 1.0]   # no spread, no width
    assert bootstrap_ci([0.5]) is None and bootstrap_ci([]) is None
    wide, narrow = bootstrap_ci([1.0, 0.0] * 5), bootstrap_ci([1.0, 0.0] * 200)
    assert wide[1] - wide[0] > 2 * (narrow[1] - narrow[0])   # more queries, a narrower interval


def test_paired_difference_pairs_queries():
    from backend.eval.metrics import paired_difference
    a, b = [1.0, 1.0, 0.0, 1.0] * 5, [0.0, 1.0, 0.0, 0.0] * 5
    d = paired_difference(a, b)
    assert d["diff"] == 0.5 and d["n"] == 20 and 0 < d["ci95"][0] < 0.5 < d["ci95"][1]
    assert paired_difference(a, a) == {"diff": 0.0, "ci95": [0.0, 0.0], "n": 20}
