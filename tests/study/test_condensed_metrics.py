"""Issue 18, item 3: the headline figures are nDCG/P@k on condensed lists (judged documents only) and equal
pytrec_eval's judged_docs_only_flag; interleaving credits only lists graded to the end; per-task agreement and the
most-disagreed items."""
from __future__ import annotations

import pytest

pytrec_eval = pytest.importorskip("pytrec_eval")

from backend.study.analysis import (agreement_by_group, annotator_agreement, bpref, condense, judged_fraction,  # noqa: E402
                                    most_disagreed, per_ranker_metrics, ranker_metrics)
from backend.study.report import interleaving_outcomes  # noqa: E402

QRELS = {"q1": {"d1": 2, "d2": 0, "d3": 1, "d9": 3}, "q2": {"d1": 0, "d2": 0, "d4": 1}}
RUNS = {"x": {"q1": ["d5", "d1", "d6", "d2", "d3", "d7"], "q2": ["d1", "d8", "d4"]},
        "y": {"q1": ["d9", "d5", "d3"], "q2": ["d8", "d4", "d2", "d1"]}}
MEASURES = {"ndcg_cut.5,10", "P.5,10", "bpref"}
NAMES = {"nDCG@5": "ndcg_cut_5", "nDCG@10": "ndcg_cut_10", "P@5": "P_5", "P@10": "P_10", "bpref": "bpref"}


def _pytrec(runs, qrels, judged_only):
    ev = pytrec_eval.RelevanceEvaluator(qrels, MEASURES, judged_docs_only_flag=judged_only)
    out = {}
    for ranker, by_q in runs.items():
        res = ev.evaluate({q: {d: float(len(ids) - r) for r, d in enumerate(ids)} for q, ids in by_q.items()})
        out[ranker] = {m: sum(res[q][t] for q in qrels) / len(qrels) for m, t in NAMES.items()}
    return out


def test_condense_drops_unjudged_and_keeps_order():
    assert condense(["d5", "d1", "d6", "d2"], QRELS["q1"]) == ["d1", "d2"]


@pytest.mark.parametrize("judged_only", [True, False])
def test_per_ranker_metrics_equal_pytrec_eval(judged_only):
    ours = per_ranker_metrics(RUNS, QRELS, n_resamples=10, condensed=judged_only)["rankers"]
    theirs = _pytrec(RUNS, QRELS, judged_only)
    for ranker in RUNS:
        for m in NAMES:
            assert ours[ranker][m]["mean"] == pytest.approx(theirs[ranker][m], abs=1e-9), (ranker, m)


def test_condensing_changes_ndcg_but_not_bpref():
    plain = per_ranker_metrics(RUNS, QRELS, n_resamples=10)["rankers"]["x"]
    cond = per_ranker_metrics(RUNS, QRELS, n_resamples=10, condensed=True)["rankers"]["x"]
    assert cond["nDCG@5"]["mean"] > plain["nDCG@5"]["mean"]
    assert cond["bpref"]["mean"] == plain["bpref"]["mean"]
    assert bpref(["d5", "d1", "d6", "d2", "d3"], QRELS["q1"]) == pytest.approx(1 / 3)


def test_judged_fraction_is_pooled_over_each_rankers_top_k():
    jf = judged_fraction(RUNS, QRELS, ks=(5, 10))
    assert jf["x"]["@5"] == pytest.approx(5 / 8)       # q1: d1 d2 d3 of 5; q2: d1 d4 of 3
    assert jf["y"]["@10"] == pytest.approx(5 / 7)      # q1: d9 d3 of 3; q2: d4 d2 d1 of 4
    assert judged_fraction({"z": {}}, QRELS)["z"]["@5"] is None


def test_ranker_metrics_puts_condensed_first_and_unjudged_beside():
    rep = ranker_metrics(RUNS, QRELS, n_resamples=10)
    assert rep["condensed"] is True and "per_query" not in rep
    assert set(rep["unjudged_as_0"]) == set(rep["rankers"]) == set(rep["judged_fraction"]) == {"x", "y"}


def _shown(pid, task, ids, teams):
    return {"participant_id": pid, "task_id": task, "ids": ids, "teams": teams,
            "rankers": {"a": "hicalm", "b": "baseline"}}


def _grade(pid, task, mid, g):
    return {"participant_id": pid, "task_id": task, "metaverse_id": mid, "grade": g, "room": -1}


def test_a_list_graded_only_at_1_is_not_a_win():
    shown = [_shown("p1", "t", ["m1", "m2", "m3"], ["a", "b", "a"]),
             _shown("p2", "t", ["m2", "m1", "m3"], ["b", "a", "b"]),
             _shown("p3", "t", ["m1", "m2"], ["a", "b"])]
    judged = [_grade("p1", "t", "m1", 3),                                         # only #1: excluded
              _grade("p2", "t", "m2", 3), _grade("p2", "t", "m1", 0), _grade("p2", "t", "m3", 0)]   # complete
    out = interleaving_outcomes(shown, judged, ["hicalm", "baseline"])
    assert out["wins"] == {"hicalm": 0, "baseline": 1} and out["ties"] == 0
    assert (out["lists_counted"], out["excluded_partial"], out["ungraded"]) == (1, 1, 1)


def test_agreement_per_task_per_participant_and_most_disagreed():
    units = {("t1", "m1"): {"p1": 3, "p2": 0}, ("t1", "m2"): {"p1": 1, "p2": 1},
             ("t1", "m3"): {"p1": 2, "p2": 1, "p3": 2}, ("t2", "m1"): {"p1": 0, "p3": 0},
             ("t2", "m2"): {"p1": 3, "p3": 3}, ("t3", "m1"): {"p2": 1}}
    per_task = agreement_by_group(units, lambda i: i[0], range(4))
    assert [g["group"] for g in per_task] == ["t1", "t2"]                  # t3 has no item graded twice
    assert per_task[1]["alpha"] == pytest.approx(1.0) and per_task[0]["alpha"] < 0.5
    assert per_task[0]["items"] == 3 and per_task[0]["graders"] == 3
    worst = most_disagreed(units, n=5)
    assert [w["item"] for w in worst] == [("t1", "m1"), ("t1", "m3")]     # full agreement left out
    assert worst[0]["range"] == 3 and worst[0]["grades"] == [0.0, 3.0]
    people = annotator_agreement(units)
    assert {p["annotator"] for p in people} == {"p1", "p2", "p3"}
    assert people[-1]["mean_abs_diff"] <= people[0]["mean_abs_diff"]


def test_simulated_study_condensed_equals_pytrec_eval_and_counts_only_complete_lists(tmp_path):
    from backend.study.exports import qrels, rankings
    from backend.study.simulate import simulate
    from backend.study.store import StudyStore
    res = simulate(participants=8, tasks=16, per_participant=4, overlap=2, seed=3, partial_share=0.5,
                   db=tmp_path / "sim.sqlite3")
    assert res["behaviours"]["first-only"] + res["behaviours"]["stops-midway"] >= 1
    rep = res["report"]
    with StudyStore(tmp_path / "sim.sqlite3") as store:
        judged, shown = store.judgements("sim-study"), store.shown_lists("sim-study")
    from backend.study.simulate import sim_config
    config = sim_config(16, 4, 2, seed=3)
    qr, runs = qrels(judged, config), rankings(shown, config)
    for judged_only, ours in ((True, rep["metrics"]["rankers"]), (False, rep["metrics"]["unjudged_as_0"])):
        theirs = _pytrec(runs, qr, judged_only)
        for ranker in runs:
            for m in NAMES:
                assert abs(ours[ranker][m]["mean"] - theirs[ranker][m]) <= 1e-9, (judged_only, ranker, m)
    # some top-10 documents are unjudged, so the two figures differ somewhere
    assert any(rep["metrics"]["judged_fraction"][r]["@10"] < 1 for r in runs)
    graded = {(r["participant_id"], r["task_id"], r["metaverse_id"]) for r in judged}
    complete = sum(all((s["participant_id"], s["task_id"], m) in graded for m, t in zip(s["ids"], s["teams"])
                       if t != "check") for s in shown)                  # a planted check is no ranker's
    il = rep["interleaving"]
    assert il["lists_counted"] == complete == sum(il["wins"].values()) + il["ties"]
    assert il["excluded_partial"] == len(shown) - complete > 0
    assert res["pytrec_eval"]["lists"]["report_counts_only_complete"] is True
