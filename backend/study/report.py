"""A study's numbers for the dashboard and `python -m backend study report`: progress, per-ranker nDCG/P@k with
confidence intervals, interleaving wins with a sign test, inter-annotator agreement."""
from __future__ import annotations

from typing import Optional

from backend.study.analysis import cohen_kappa_pairs, krippendorff_alpha_ordinal, per_ranker_metrics, sign_test
from backend.study.config import StudyConfig
from backend.study.exports import qrels, query_id, rankings
from backend.study.filters import ParticipantFilter, select_participants, split_known
from backend.study.interleave import Interleaving, credit
from backend.study.store import StudyStore

WHOLE = -1


def study_report(store: StudyStore, config: StudyConfig, seed: int = 0, flt: Optional[ParticipantFilter] = None,
                 metaverse_ids: Optional[set] = None) -> dict:
    """Everything the researcher's dashboard shows, as plain data (the caller checks the token). The numbers count
    only the participants `flt` keeps (default ParticipantFilter()); "participants_dropped" says how many it left out
    and why; with metaverse_ids (the collection's), judgements of other ids are refused and counted. Progress counts
    everyone."""
    study = config.name
    flt = ParticipantFilter() if flt is None else flt
    everyone = store.participants(study)
    all_judged = store.judgements(study)
    keep, dropped = select_participants(everyone, all_judged, store.tasks_done(study), flt, metaverse_ids)
    known, refused = split_known((r for r in all_judged if r["room"] == WHOLE), metaverse_ids)
    judged = [r for r in known if r["participant_id"] in keep]
    shown = [s for s in store.shown_lists(study) if s["participant_id"] in keep]
    qr = qrels(judged, config)
    runs = rankings(shown, config, metaverse_ids)
    out: dict = {"study": study, "participants": len(everyone), "participants_kept": len(keep),
                 "participants_dropped": dropped, "filter": flt.to_dict(),
                 "participants_needed": config.participants_needed, "overlap": config.overlap,
                 "task_progress": store.task_progress(study), "judgements": len(judged),
                 "judgements_refused": refused, "queries": len(qr)}
    if qr and runs:
        out["metrics"] = per_ranker_metrics(runs, qr, seed=seed)
        out["metrics"].pop("per_query", None)
    # interleaving: per shown list, which team's items the participant judged relevant
    grades: dict[tuple[str, str, str], int] = {(r["participant_id"], r["task_id"], r["metaverse_id"]): r["grade"]
                                               for r in judged}
    wins = {"a": 0, "b": 0, "tie": 0}
    by_ranker: dict[str, int] = {}
    for s in shown:
        ranker_of = s["rankers"]
        judged_here = {mid: grades.get((s["participant_id"], s["task_id"], mid)) for mid in s["ids"]}
        if all(g is None for g in judged_here.values()):
            continue
        teams = tuple(t if t in ("a", "b") else "a" for t in s["teams"])   # "both": credited once, to "a"
        il = Interleaving(tuple(s["ids"]), teams, ranker_of.get("a"), ranker_of.get("b"))
        outcome = credit(il, judged_here)["outcome"]
        wins[outcome] += 1
        if outcome in ("a", "b"):
            by_ranker[ranker_of[outcome]] = by_ranker.get(ranker_of[outcome], 0) + 1
    names = list(config.rankers)
    out["interleaving"] = {"wins": {n: by_ranker.get(n, 0) for n in names}, "ties": wins["tie"],
                           "sign_test": sign_test(by_ranker.get(names[0], 0), by_ranker.get(names[1], 0), wins["tie"])}
    # agreement: items = (query, metaverse), annotators = participants
    units: dict[str, dict[str, int]] = {}
    describe = {t.id for t in config.tasks if t.type == "describe"}
    for r in judged:
        qid = query_id(r["task_id"], r["participant_id"] if r["task_id"] in describe else None)
        units.setdefault(f"{qid}|{r['metaverse_id']}", {})[r["participant_id"]] = r["grade"]
    shared = {k: v for k, v in units.items() if len(v) >= 2}
    out["agreement"] = {"items_with_2_or_more": len(shared),
                        "krippendorff_alpha_ordinal": krippendorff_alpha_ordinal(shared, config.scale.grades)
                        if shared else None,
                        "cohen_kappa": cohen_kappa_pairs(shared, labels=list(config.scale.grades)) if shared else None}
    return out


def open_study(config_path, db_path: Optional[str] = None) -> tuple[StudyStore, StudyConfig]:
    from backend.study.config import load_study
    return StudyStore(db_path), load_study(config_path)
