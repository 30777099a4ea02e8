"""A study's numbers for the dashboard and `python -m backend study report`: progress, per-ranker nDCG/P@k/bpref with
confidence intervals (condensed lists as the headline, unjudged-as-0 beside them, the judged fraction), interleaving
wins over fully graded lists with a sign test, inter-annotator agreement overall, per task and per participant, and
the items graders disagree on most."""
from __future__ import annotations

from typing import Optional

from backend.study.analysis import (agreement_by_group, annotator_agreement, cohen_kappa_pairs,
                                    krippendorff_alpha_ordinal, most_disagreed, ranker_metrics, sign_test)
from backend.study.config import StudyConfig
from backend.study.exports import qrels, query_id, rankings
from backend.study.filters import ParticipantFilter, attention_checks, select_participants, split_known
from backend.study.interleave import Interleaving, credit
from backend.study.store import StudyStore

WHOLE = -1
DISAGREED_SHOWN = 10      # items in the "graders disagree most" list


def study_report(store: StudyStore, config: StudyConfig, seed: int = 0, flt: Optional[ParticipantFilter] = None,
                 metaverse_ids: Optional[set] = None) -> dict:
    """Everything the researcher's dashboard shows, as plain data (the caller checks the token). The numbers count
    only the participants `flt` keeps (default ParticipantFilter()); "participants_dropped" says how many it left out
    and why; with metaverse_ids (the collection's), judgements of other ids are refused and counted. Progress counts
    everyone."""
    study = config.name
    flt = ParticipantFilter() if flt is None else flt
    everyone = store.participants(study)
    every_grade = store.judgements(study)
    every_list = store.shown_lists(study)
    checks = attention_checks(every_list, every_grade, config)
    failed = {pid for pid, c in checks.items() if c["failed"]}
    keep, dropped = select_participants(everyone, every_grade, store.tasks_done(study), flt, metaverse_ids, failed)
    all_judged = [r for r in every_grade if r.get("ranker_team") != "check"]   # planted checks rank nothing
    known, refused = split_known((r for r in all_judged if r["room"] == WHOLE), metaverse_ids)
    judged = [r for r in known if r["participant_id"] in keep]
    shown = [s for s in every_list if s["participant_id"] in keep]
    qr = qrels(judged, config)
    runs = rankings(shown, config, metaverse_ids)
    out: dict = {"study": study, "participants": len(everyone), "participants_kept": len(keep),
                 "participants_dropped": dropped, "filter": flt.to_dict(),
                 "participants_needed": config.participants_needed, "overlap": config.overlap,
                 "task_progress": store.task_progress(study), "judgements": len(judged),
                 "judgements_refused": refused, "queries": len(qr)}
    if qr and runs:
        out["metrics"] = ranker_metrics(runs, qr, seed=seed)
    out["interleaving"] = interleaving_outcomes(shown, judged, list(config.rankers))
    out["participant_table"] = participant_table(store, config, checks)
    out["attention_checks"] = {"planted": len(config.attention_checks),
                               "participants_flagged": sum(p["flagged"] for p in out["participant_table"])}
    # agreement: items = (query, metaverse), annotators = participants
    units: dict[tuple[str, str], dict[str, int]] = {}
    describe = {t.id for t in config.tasks if t.type == "describe"}
    for r in judged:
        qid = query_id(r["task_id"], r["participant_id"] if r["task_id"] in describe else None)
        units.setdefault((qid, r["metaverse_id"]), {})[r["participant_id"]] = r["grade"]
    shared = {k: v for k, v in units.items() if len(v) >= 2}
    domain = config.scale.grades
    out["agreement"] = {
        "items_with_2_or_more": len(shared),
        "krippendorff_alpha_ordinal": krippendorff_alpha_ordinal(shared, domain) if shared else None,
        "cohen_kappa": cohen_kappa_pairs(shared, labels=list(domain)) if shared else None,
        "per_task": [{"task": g.pop("group"), **g} for g in agreement_by_group(shared, lambda i: i[0], domain)],
        "per_participant": [{"participant_id": a.pop("annotator"), **a} for a in annotator_agreement(shared)],
        "most_disagreed": [{"task": d["item"][0], "metaverse_id": d["item"][1],
                            **{k: v for k, v in d.items() if k != "item"}}
                           for d in most_disagreed(shared, DISAGREED_SHOWN)]}
    return out


def interleaving_outcomes(shown: list[dict], judged: list[dict], rankers: list[str]) -> dict:
    """Team-draft credit per shown list, counted only for lists graded to the end (every shown item has a grade):
    a list graded only at #1 says nothing about the items below it, and counting it credits whichever team placed
    #1. Lists with some but not all items graded are "excluded_partial", lists with no grade "ungraded".
    -> {"wins": {ranker: n}, "ties", "lists_counted", "excluded_partial", "ungraded", "sign_test"}"""
    grades: dict[tuple[str, str, str], int] = {(r["participant_id"], r["task_id"], r["metaverse_id"]): r["grade"]
                                               for r in judged if r["room"] == WHOLE}
    wins = {"a": 0, "b": 0, "tie": 0}
    by_ranker: dict[str, int] = {}
    partial = ungraded = 0
    for s in shown:
        ranker_of = s["rankers"]
        judged_here = {mid: grades.get((s["participant_id"], s["task_id"], mid))
                       for mid, team in zip(s["ids"], s["teams"]) if team != "check"}
        n_graded = sum(g is not None for g in judged_here.values())
        if n_graded == 0:
            ungraded += 1
            continue
        if n_graded < len(judged_here):
            partial += 1
            continue
        kept = [(m, t) for m, t in zip(s["ids"], s["teams"]) if t != "check"]     # a planted check is no team's
        teams = tuple(t if t in ("a", "b") else "a" for _, t in kept)          # "both": credited once, to "a"
        il = Interleaving(tuple(m for m, _ in kept), teams, ranker_of.get("a"), ranker_of.get("b"))
        outcome = credit(il, judged_here)["outcome"]
        wins[outcome] += 1
        if outcome in ("a", "b"):
            by_ranker[ranker_of[outcome]] = by_ranker.get(ranker_of[outcome], 0) + 1
    return {"wins": {n: by_ranker.get(n, 0) for n in rankers}, "ties": wins["tie"],
            "lists_counted": wins["a"] + wins["b"] + wins["tie"], "excluded_partial": partial, "ungraded": ungraded,
            "sign_test": sign_test(by_ranker.get(rankers[0], 0), by_ranker.get(rankers[1], 0), wins["tie"])}


def _seconds(stamp: Optional[str]) -> Optional[float]:
    from backend.study.filters import _seconds as parse
    return None if stamp is None else parse(stamp)


def participant_table(store: StudyStore, config: StudyConfig, checks: dict) -> list[dict]:
    """One row per participant, everyone (not only those the filter keeps): tasks done of assigned, attention checks
    passed / failed / not yet graded (flagged: any failed; `checks` as filters.attention_checks gives them),
    practice done, time on task (from first opening a task to its last first-time grade, over finished tasks: total
    and median seconds) and the crowd-platform id."""
    import statistics
    states = dict(store.tasks_done(config.name))
    times: dict[str, list[float]] = {}
    done_tasks = {(p, t) for p in states for t, s in store.progress(config.name, p)["tasks"].items() if s["done"]}
    for r in store.task_times(config.name):
        if (r["participant_id"], r["task_id"]) in done_tasks and r["last_grade_at"]:
            dt = _seconds(r["last_grade_at"]) - _seconds(r["opened_at"])
            times.setdefault(r["participant_id"], []).append(max(0.0, dt))
    out = []
    for p in store.participants(config.name):
        pid = p["participant_id"]
        c = checks.get(pid, {"passed": 0, "failed": 0, "pending": 0})
        t = times.get(pid, [])
        out.append({"participant_id": pid, "seq": p["seq"], "external_id": p.get("external_id"),
                    "tasks_done": states.get(pid, 0), "tasks_assigned": len(p["assigned"]),
                    "practice_done": bool(p.get("practice_done_at")), "checks": c, "flagged": c["failed"] > 0,
                    "time_on_tasks_s": round(sum(t), 1) if t else None,
                    "median_task_s": round(statistics.median(t), 1) if t else None})
    return out


def open_study(config_path, db_path: Optional[str] = None) -> tuple[StudyStore, StudyConfig]:
    from backend.study.config import load_study
    return StudyStore(db_path), load_study(config_path)
