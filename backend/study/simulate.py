"""A simulated study for checking the report's numbers: scripted participants grade team-draft interleaved lists of
two synthetic rankers, some of them only partly (a list graded at #1 and left); the report is then recomputed with
pytrec_eval (judged_docs_only_flag on and off) and the interleaving count is redone by hand.

No search service is involved: each judge task has a pool of documents with a hidden true grade, and each ranker
sorts the pool by the true grade plus its own noise (the less noise, the better the ranker). Everything is drawn
from one seed, so a seed gives the same figures every time."""
from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from backend.study.config import AttentionCheck, Scale, StudyConfig, Task, assign_tasks
from backend.study.exports import qrels as to_qrels, rankings
from backend.study.filters import NONE
from backend.study.report import study_report
from backend.study.store import StudyStore

RANKERS = ("hicalm", "baseline")
BEHAVIOURS = ("complete", "first-only", "stops-midway", "careless")
CHECK_AT = 4          # the planted attention check's place in a list (from 1)


def sim_config(tasks: int = 12, per_participant: int = 4, overlap: int = 3, k: int = 10, seed: int = 0,
               checks: bool = True) -> StudyConfig:
    """Judge tasks q00, q01, …; with checks, every other task (q00, q02, …) has an obviously irrelevant document
    "<task>-planted" planted at #CHECK_AT."""
    planted = tuple(AttentionCheck(task=f"q{i:02d}", metaverse=f"q{i:02d}-planted", expect="irrelevant",
                                   position=CHECK_AT) for i in range(0, tasks, 2)) if checks else ()
    return StudyConfig(name="sim-study", consent="simulated", k=k, rankers=RANKERS, scale=Scale(),
                       tasks=tuple(Task(id=f"q{i:02d}", type="judge", query=f"simulated query {i}")
                                   for i in range(tasks)),
                       tasks_per_participant=per_participant, overlap=overlap, seed=seed, attention_checks=planted)


def _pools(config: StudyConfig, rng: np.random.Generator, pool: int, noise: dict) -> dict:
    """{task: (true grades {doc: grade}, {ranker: its top k})}."""
    out = {}
    for t in config.tasks:
        docs = [f"{t.id}-d{j:02d}" for j in range(pool)]
        truth = rng.choice(4, size=pool, p=[0.45, 0.25, 0.2, 0.1])                       # (pool,) grades 0..3
        tops = {}
        for r in config.rankers:
            score = truth + rng.normal(0, noise[r], size=pool)                              # (pool,)
            tops[r] = [docs[j] for j in np.argsort(-score, kind="stable")[:config.k]]
        out[t.id] = ({d: int(g) for d, g in zip(docs, truth)}, tops)
    return out


def simulate(participants: int = 16, seed: int = 0, db: Optional[Path] = None, pool: int = 30,
             noise: Optional[dict] = None, partial_share: float = 0.4, tasks: int = 40, per_participant: int = 5,
             overlap: int = 2, careless_share: float = 0.15) -> dict:
    """Run a scripted study into a fresh store and return the report's figures beside pytrec_eval's.

    Participants take turns in BEHAVIOURS order, weighted so that about `partial_share` of them are partial
    graders: "complete" grades every item; "first-only" grades only #1 of every other list it is shown; "stops-
    midway" grades the first half of every other list. A grade is the true grade, off by one a fifth of the time.
    About `careless_share` of them are "careless" instead: they grade every item at random, so they fail most of
    the planted attention checks (obviously irrelevant documents, which attentive participants grade 0) and the
    report flags them.
    noise: each ranker's score noise (default hicalm 1.0, baseline 1.2). The defaults give every task its overlap
    (16 participants x 5 tasks = 40 tasks x 2 graders)."""
    from backend.study.interleave import team_draft
    noise = noise or {"hicalm": 1.0, "baseline": 1.2}
    config = sim_config(tasks, per_participant, overlap, seed=seed)
    rng = np.random.default_rng(seed)
    world = _pools(config, rng, pool, noise)
    db = Path(db) if db else Path(tempfile.mkdtemp(prefix="study-sim-")) / "studies.sqlite3"
    store = StudyStore(db)
    behaviour_rng = random.Random(seed)
    behaviours = []
    careless_rng = random.Random(f"careless:{seed}")
    for i in range(participants):
        behaviours.append("complete" if behaviour_rng.random() >= partial_share else
                          BEHAVIOURS[1 + behaviour_rng.randrange(2)])
        if careless_rng.random() < careless_share:
            behaviours[-1] = "careless"
    a_name, b_name = config.rankers
    for i in range(participants):
        pid, _ = store.new_participant(config.name, assign=lambda seq: assign_tasks(config, seq))
        kind = behaviours[i]
        for n, task in enumerate(assign_tasks(config, i)):
            truth, tops = world[task]
            il = team_draft(tops[a_name], tops[b_name], config.k, seed * 100_003 + i * 101 + n,
                            names=(a_name, b_name))
            ids, teams = list(il.ids), list(il.teams)
            check = config.check_for(task)
            if check is not None:
                ids.insert(check.position - 1, check.metaverse)
                teams.insert(check.position - 1, "check")
            store.record_shown(config.name, pid, task, ids, teams, {"a": a_name, "b": b_name},
                               original={a_name: tops[a_name], b_name: tops[b_name]})
            if kind == "first-only" and n % 2 == 0:
                ids = ids[:1]
            elif kind == "stops-midway" and n % 2 == 0:
                ids = ids[:len(ids) // 2]
            for mid in ids:
                if kind == "careless":
                    g = int(rng.integers(0, 4))
                elif check is not None and mid == check.metaverse:
                    g = 0                                   # obviously irrelevant: an attentive grader sees it
                else:
                    g = truth[mid]
                    if rng.random() < 0.2:
                        g = int(np.clip(g + rng.choice((-1, 1)), 0, 3))
                store.record_judgement(config.name, pid, task, mid, g)
    rep = study_report(store, config, seed=seed, flt=NONE)
    check = check_against_pytrec_eval(store, config, rep)
    strict = study_report(store, config, seed=seed, flt=replace(NONE, drop_failed_checks=True))
    store.close()
    return {"db": str(db), "seed": seed, "participants": participants,
            "behaviours": {b: behaviours.count(b) for b in BEHAVIOURS}, "noise": noise, "report": rep,
            "pytrec_eval": check, "attention_checks": {**flags(rep, behaviours), "without_flagged": {
                "participants_kept": strict["participants_kept"],
                "alpha": strict["agreement"]["krippendorff_alpha_ordinal"],
                "nDCG@10_condensed": {r: v["nDCG@10"]["mean"] for r, v in strict["metrics"]["rankers"].items()}}}}


def flags(rep: dict, behaviours: list[str]) -> dict:
    """Who the report flags for a failed attention check, against who was scripted careless."""
    rows = sorted(rep["participant_table"], key=lambda r: r["seq"])
    flagged = [behaviours[r["seq"]] for r in rows if r["flagged"]]
    with_check = [behaviours[r["seq"]] for r in rows if r["checks"]["passed"] + r["checks"]["failed"]]
    return {"careless": behaviours.count("careless"), "careless_flagged": flagged.count("careless"),
            "careless_who_met_a_check": with_check.count("careless"),
            "attentive_flagged": len(flagged) - flagged.count("careless"),
            "checks_graded": sum(r["checks"]["passed"] + r["checks"]["failed"] for r in rows),
            "checks_failed": sum(r["checks"]["failed"] for r in rows)}


def check_against_pytrec_eval(store: StudyStore, config: StudyConfig, rep: dict) -> dict:
    """The largest |report - pytrec_eval| over rankers, measures and queries' means, for the condensed figures
    (judged_docs_only_flag=True) and the unjudged-as-0 ones (False); and the interleaving count redone directly:
    lists with every item graded, and what counting every list with any grade would have given."""
    import pytrec_eval
    judged = store.judgements(config.name)
    shown = store.shown_lists(config.name)
    qr = to_qrels(judged, config)
    runs = rankings(shown, config)
    measures = {"ndcg_cut.5,10", "P.5,10", "bpref"}
    names = {"nDCG@5": "ndcg_cut_5", "nDCG@10": "ndcg_cut_10", "P@5": "P_5", "P@10": "P_10", "bpref": "bpref"}
    out: dict = {}
    for flag, key, ours in ((True, "condensed", rep["metrics"]["rankers"]),
                            (False, "unjudged_as_0", rep["metrics"]["unjudged_as_0"])):
        ev = pytrec_eval.RelevanceEvaluator(qr, measures, judged_docs_only_flag=flag)
        worst, theirs = 0.0, {}
        for ranker, by_q in runs.items():
            run = {q: {d: float(len(ids) - r) for r, d in enumerate(ids)} for q, ids in by_q.items() if q in qr}
            res = ev.evaluate(run)
            theirs[ranker] = {m: float(np.mean([res[q][t] for q in qr])) for m, t in names.items()}
            for m in names:
                worst = max(worst, abs(ours[ranker][m]["mean"] - theirs[ranker][m]))
        out[key] = {"max_abs_diff": worst, "pytrec_eval": theirs}
    shown = [_without_checks(s) for s in shown]
    grades = {(r["participant_id"], r["task_id"], r["metaverse_id"]) for r in judged if r["room"] == -1}
    n_graded = [sum((s["participant_id"], s["task_id"], m) in grades for m in s["ids"]) for s in shown]
    out["lists"] = {"shown": len(shown), "complete": sum(n == len(s["ids"]) for n, s in zip(n_graded, shown)),
                    "partial": sum(0 < n < len(s["ids"]) for n, s in zip(n_graded, shown)),
                    "ungraded": sum(n == 0 for n in n_graded)}
    from backend.study.report import interleaving_outcomes
    out["interleaving_if_partial_lists_counted"] = _count_all(shown, judged, list(config.rankers))
    out["lists"]["report_counts_only_complete"] = (
        interleaving_outcomes(shown, judged, list(config.rankers))["lists_counted"] == out["lists"]["complete"])
    return out


def _without_checks(s: dict) -> dict:
    """A shown list without its planted attention check (no ranker put it there)."""
    kept = [(m, t) for m, t in zip(s["ids"], s["teams"]) if t != "check"]
    return {**s, "ids": [m for m, _ in kept], "teams": [t for _, t in kept]}


def _count_all(shown: list[dict], judged: list[dict], rankers: list[str]) -> dict:
    """The old count, for contrast: every list with at least one grade credited as if graded to the end."""
    from backend.study.analysis import sign_test
    from backend.study.interleave import Interleaving, credit
    grades = {(r["participant_id"], r["task_id"], r["metaverse_id"]): r["grade"] for r in judged if r["room"] == -1}
    wins = {r: 0 for r in rankers}
    ties = 0
    for s in shown:
        here = {m: grades.get((s["participant_id"], s["task_id"], m)) for m in s["ids"]}
        if all(g is None for g in here.values()):
            continue
        res = credit(Interleaving(tuple(s["ids"]), tuple(s["teams"]), s["rankers"]["a"], s["rankers"]["b"]), here)
        if res["winner"] is None:
            ties += 1
        else:
            wins[res["winner"]] += 1
    return {"wins": wins, "ties": ties, "sign_test_p": sign_test(wins[rankers[0]], wins[rankers[1]], ties)["p_value"]}


def summary(result: dict) -> dict:
    """The figures worth pasting: per ranker condensed and unjudged-as-0 means, bpref, judged fractions;
    interleaving over complete lists against the old count; pytrec_eval's largest difference; agreement."""
    rep = result["report"]
    m = rep["metrics"]
    il = rep["interleaving"]
    ag = rep["agreement"]
    r3 = lambda x: None if x is None else round(x, 4)   # noqa: E731
    return {
        "seed": result["seed"], "participants": result["participants"], "behaviours": result["behaviours"],
        "queries": m["n_queries"], "judgements": rep["judgements"],
        "rankers": {r: {"condensed": {k: r3(v["mean"]) for k, v in s.items() if isinstance(v, dict)},
                        "unjudged_as_0": {k: r3(v["mean"]) for k, v in m["unjudged_as_0"][r].items()
                                          if isinstance(v, dict) and k != "bpref"},
                        "judged_fraction": {k: r3(v) for k, v in m["judged_fraction"][r].items()}}
                    for r, s in m["rankers"].items()},
        "interleaving_complete_lists_only": {"wins": il["wins"], "ties": il["ties"], "lists_counted":
                                             il["lists_counted"], "excluded_partial": il["excluded_partial"],
                                             "ungraded": il["ungraded"], "sign_test_p": r3(il["sign_test"]["p_value"])},
        "interleaving_if_partial_lists_counted": result["pytrec_eval"]["interleaving_if_partial_lists_counted"],
        "pytrec_eval_max_abs_diff": {k: result["pytrec_eval"][k]["max_abs_diff"]
                                     for k in ("condensed", "unjudged_as_0")},
        "attention_checks": result["attention_checks"],
        "agreement": {"alpha": r3(ag["krippendorff_alpha_ordinal"]), "items_with_2_or_more":
                      ag["items_with_2_or_more"], "per_task_alpha": {t["task"]: r3(t["alpha"]) for t in ag["per_task"]},
                      "most_disagreed": ag["most_disagreed"][:3]},
    }
