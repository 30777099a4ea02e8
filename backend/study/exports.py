"""Study exports (token-gated): TREC qrels, a TREC run per ranker, CSV, JSONL, and the user queries as a query set."""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import statistics
from typing import Iterable, Mapping, Optional

from backend.study.config import StudyConfig

log = logging.getLogger(__name__)

TOKEN_ENV = "METAVERSE_STUDY_TOKEN"
WHOLE = -1
CSV_FIELDS = ("study", "participant_id", "task_id", "metaverse_id", "room", "grade", "ranker_team", "position",
              "created_at", "updated_at")
KINDS = ("museum", "game")


def check_token(given: Optional[str], expected: Optional[str] = None) -> None:
    """PermissionError unless `given` equals the study token (`expected`, default $METAVERSE_STUDY_TOKEN), compared
    in constant time. With no token set, the dashboard and exports are disabled."""
    from backend.tokens import check_token as check
    check(given, TOKEN_ENV, "study dashboard and exports are", "study", expected)


def query_id(task_id: str, participant_id: Optional[str] = None) -> str:
    """The TREC qid: the task id, or "<task>.<participant>" for a describe task, whose query differs per participant
    (task ids have no '.'). Used alike by the qrels, the runs and the query set, so they join."""
    return f"{task_id}.{participant_id}" if participant_id else task_id


def _per_participant(config: Optional[StudyConfig]) -> set[str]:
    return {t.id for t in config.tasks if t.type == "describe"} if config else set()


def _qid(row: Mapping, per_participant: set[str]) -> str:
    return query_id(row["task_id"], row["participant_id"] if row["task_id"] in per_participant else None)


def _one_study(rows: list[Mapping]) -> None:
    studies = {r["study"] for r in rows}
    if len(studies) > 1:
        raise ValueError(f"rows of several studies {sorted(studies)}: export one study at a time")


def _token(value, what: str) -> str:
    s = str(value)
    if not s or any(ch.isspace() for ch in s):
        raise ValueError(f"{what} {s!r} cannot go in a TREC file: it must be non-empty and without spaces")
    return s


def to_qrels(judgements: Iterable[Mapping], config: Optional[StudyConfig] = None) -> str:
    """TREC qrels, one "qid 0 docid grade" line per (query, metaverse), sorted (see qrels())."""
    return "".join(f"{qid} 0 {doc} {grade}\n" for qid, docs in sorted(qrels(judgements, config).items())
                   for doc, grade in sorted(docs.items()))


def qrels(judgements: Iterable[Mapping], config: Optional[StudyConfig] = None) -> dict[str, dict[str, int]]:
    """{qid: {metaverse id: grade}}. Only whole-metaverse judgements
    (room -1); room-level grades are left out. With several annotators the grade is the median of their grades
    rounded down (e.g. 1 and 2 give 1; 1 and 3 give 2). qid = task id; with a config, describe tasks get one qid per
    participant ("<task>.<participant>"), because each participant judged the results of their own query."""
    rows = [r for r in judgements if r["room"] == WHOLE]
    _one_study(rows)
    per = _per_participant(config)
    grades: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        key = (_token(_qid(r, per), "qid"), _token(r["metaverse_id"], "docid"))
        grades.setdefault(key, []).append(int(r["grade"]))
    out: dict[str, dict[str, int]] = {}
    for (qid, doc), g in sorted(grades.items()):
        out.setdefault(qid, {})[doc] = math.floor(statistics.median(g))
    return out


def _reconstructed(shown: Mapping) -> dict[str, list[str]]:
    """Each ranker's list as far as the interleaved list shows it: the ids its team (or both teams) contributed,
    in shown order. Only a fallback for shown lists recorded without `original` (approximate)."""
    out: dict[str, list[str]] = {}
    for team, ranker in shown["rankers"].items():
        out[ranker] = [i for i, t in zip(shown["ids"], shown["teams"]) if t in (team, "both")]
    return out


def to_runs(shown_lists: Iterable[Mapping], config: Optional[StudyConfig] = None) -> dict[str, str]:
    """{ranker: TREC run} with lines "qid Q0 docid rank score tag" (rank from 1, score = list length - rank + 1,
    tag = the ranker), from rankings()."""
    out = {}
    for ranker, by_qid in sorted(rankings(shown_lists, config).items()):
        tag = _token(ranker, "ranker")
        lines = [f"{qid} Q0 {_token(doc, 'docid')} {rank} {len(ids) - rank + 1} {tag}\n"
                 for qid, ids in sorted(by_qid.items()) for rank, doc in enumerate(ids, 1)]
        out[ranker] = "".join(lines)
    return out


def rankings(shown_lists: Iterable[Mapping], config: Optional[StudyConfig] = None) -> dict[str, dict[str, list[str]]]:
    """{ranker: {qid: ids}} from each ranker's own original top-k stored beside the interleaved list, so the runs are
    exact whatever the interleaving showed. qids as in to_qrels. A judge task's query is the same for everyone: its
    first recorded list is used (a warning is logged if later participants got another one). A shown list without
    originals (recorded before schema v2) falls back to the ids its team contributed, with a warning."""
    lists = sorted(shown_lists, key=lambda s: (s["created_at"], s["participant_id"]))
    _one_study(lists)
    per = _per_participant(config)
    by_ranker: dict[str, dict[str, list[str]]] = {}   # ranker -> qid -> ids
    for s in lists:
        qid = _token(_qid(s, per), "qid")
        original = s.get("original") or {}
        if not original:
            log.warning("shown list %s/%s has no original rankings; reconstructing from the interleaved list",
                        s["participant_id"], s["task_id"])
            original = _reconstructed(s)
        for ranker, ids in original.items():
            have = by_ranker.setdefault(ranker, {})
            if qid not in have:
                have[qid] = list(ids)
            elif have[qid] != list(ids):
                log.warning("ranker %s gave query %s different lists to different participants; exporting the first",
                            ranker, qid)
    return by_ranker


def to_csv(judgements: Iterable[Mapping]) -> str:
    """Every judgement as CSV with a header (columns CSV_FIELDS). Ids are validated, so no cell is free text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in judgements:
        writer.writerow({k: r.get(k) for k in CSV_FIELDS})
    return buf.getvalue()


def to_jsonl(rows: Iterable[Mapping]) -> str:
    """One JSON object a line (sorted keys, UTF-8 kept), for judgements or any other rows."""
    return "".join(json.dumps(dict(r), sort_keys=True, ensure_ascii=False) + "\n" for r in rows)


def to_query_set(user_queries: Iterable[Mapping], config: StudyConfig,
                 metaverses: Optional[Mapping[str, Mapping]] = None) -> str:
    """The queries participants wrote for describe tasks, as a query set in the format of queries/README.md:
    {id, split, type "text", text, kind, form "user", rooms [], ordered false, target, study, task}, one JSON a line.

    id = "<task>.<participant>" (as in to_qrels / to_runs). `target` is the describe task's metaverse: relevance for
    a user query is that target, so `rooms` is empty (the room recipes the participant meant are unknown), and only
    the target metrics (R@1, R@10) mean something; P@10 over recipes would count every metaverse of the kind.
    `metaverses` ({id: {"kind", "split"}}, e.g. from metaverses.json) gives the kind and the split (a target of
    split "test" makes a "test" query, any other a "dev" one); without it the kind comes from the id prefix
    ("museum-…", "game-…") and the split is "dev". The text is copied as written, never interpreted."""
    targets = {t.id: t.target for t in config.tasks if t.type == "describe"}
    lines = []
    for q in sorted(user_queries, key=lambda q: (q["task_id"], q["participant_id"])):
        if q["study"] != config.name:
            raise ValueError(f"query of study {q['study']!r} given with the config of {config.name!r}")
        target = targets.get(q["task_id"])
        if target is None:
            log.warning("query for task %s skipped: not a describe task of %s", q["task_id"], config.name)
            continue
        if metaverses is not None:
            if target not in metaverses:
                raise ValueError(f"describe target {target!r} is not in the metaverses given")
            kind, split = metaverses[target].get("kind"), "test" if metaverses[target].get("split") == "test" else "dev"
        else:
            kind, split = target.split("-", 1)[0], "dev"
        if kind not in KINDS:
            raise ValueError(f"kind of target {target!r} is {kind!r}, not one of {list(KINDS)}: pass metaverses "
                             f"with a kind for each target")
        lines.append({"id": query_id(q["task_id"], q["participant_id"]), "split": split, "type": "text",
                      "text": q["text"], "kind": kind, "form": "user", "rooms": [], "ordered": False,
                      "target": target, "study": config.name, "task": q["task_id"]})
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def export_files(store, config: StudyConfig) -> dict[str, str]:
    """Every export of one study by file name: qrels, one TREC run per ranker, CSV, JSONL and the user queries."""
    judged = store.judgements(config.name)
    files = {"qrels.txt": to_qrels(judged, config), "judgements.csv": to_csv(judged),
             "judgements.jsonl": to_jsonl(judged),
             "user-queries.jsonl": to_query_set(store.user_queries(config.name), config)}
    files.update({f"run-{r}.txt": text for r, text in to_runs(store.shown_lists(config.name), config).items()})
    return files
