"""Study exports (token-gated): TREC qrels, a TREC run per ranker, CSV, JSONL, and the user queries as a query set;
and the short-lived signed links the dashboard hands out for them."""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import math
import os
import re
import statistics
import time
from typing import Iterable, Mapping, Optional, Sequence

from backend.study.config import StudyConfig
from backend.study.filters import NONE, ParticipantFilter, attention_checks, select_participants, split_known

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


def to_qrels(judgements: Iterable[Mapping], config: Optional[StudyConfig] = None,
             metaverse_ids: Optional[set] = None) -> str:
    """TREC qrels, one "qid 0 docid grade" line per (query, metaverse), sorted (see qrels())."""
    return "".join(f"{qid} 0 {doc} {grade}\n" for qid, docs in sorted(qrels(judgements, config, metaverse_ids).items())
                   for doc, grade in sorted(docs.items()))


def qrels(judgements: Iterable[Mapping], config: Optional[StudyConfig] = None,
          metaverse_ids: Optional[set] = None) -> dict[str, dict[str, int]]:
    """{qid: {metaverse id: grade}}. Only whole-metaverse judgements
    (room -1); room-level grades are left out. With metaverse_ids (the collection's), a judgement of any other id
    is refused (left out, counted in a logged warning). With several annotators the grade is the median of their grades
    rounded down (e.g. 1 and 2 give 1; 1 and 3 give 2). qid = task id; with a config, describe tasks get one qid per
    participant ("<task>.<participant>"), because each participant judged the results of their own query."""
    rows, _ = split_known((r for r in judgements if r["room"] == WHOLE and r.get("ranker_team") != "check"),
                          metaverse_ids)   # a planted attention check is not a relevance judgement of the query
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


def to_runs(shown_lists: Iterable[Mapping], config: Optional[StudyConfig] = None,
            metaverse_ids: Optional[set] = None) -> dict[str, str]:
    """{ranker: TREC run} with lines "qid Q0 docid rank score tag" (rank from 1, score = list length - rank + 1,
    tag = the ranker), from rankings()."""
    out = {}
    for ranker, by_qid in sorted(rankings(shown_lists, config, metaverse_ids).items()):
        tag = _token(ranker, "ranker")
        lines = [f"{qid} Q0 {_token(doc, 'docid')} {rank} {len(ids) - rank + 1} {tag}\n"
                 for qid, ids in sorted(by_qid.items()) for rank, doc in enumerate(ids, 1)]
        out[ranker] = "".join(lines)
    return out


def rankings(shown_lists: Iterable[Mapping], config: Optional[StudyConfig] = None,
             metaverse_ids: Optional[set] = None) -> dict[str, dict[str, list[str]]]:
    """{ranker: {qid: ids}} from each ranker's own original top-k stored beside the interleaved list, so the runs are
    exact whatever the interleaving showed. qids as in to_qrels. A judge task's query is the same for everyone: its
    first recorded list is used (a warning is logged if later participants got another one). A shown list without
    originals (recorded before schema v2) falls back to the ids its team contributed, with a warning. With
    metaverse_ids, ids outside the collection are left out of every ranking (with a warning)."""
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
            if metaverse_ids is not None and any(i not in metaverse_ids for i in ids):
                log.warning("ranker %s, query %s: ids outside the collection left out of the run", ranker, qid)
                ids = [i for i in ids if i in metaverse_ids]
            have = by_ranker.setdefault(ranker, {})
            if qid not in have:
                have[qid] = list(ids)
            elif have[qid] != list(ids):
                log.warning("ranker %s gave query %s different lists to different participants; exporting the first",
                            ranker, qid)
    return by_ranker


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A cell a spreadsheet shows as text: a string starting with = + - @ tab or carriage return gets a leading
    single quote (OWASP's CSV injection rule), so "=HYPERLINK(…)" is never run as a formula. Numbers pass."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(judgements: Iterable[Mapping], metaverse_ids: Optional[set] = None) -> str:
    """Every judgement as CSV with a header (columns CSV_FIELDS), every text cell escaped by csv_cell; with
    metaverse_ids, judgements of ids outside the collection are refused (left out, with a warning)."""
    rows, _ = split_known(judgements, metaverse_ids)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: csv_cell(r.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()


def queries_csv(user_queries: Iterable[Mapping]) -> str:
    """The queries participants wrote as CSV (study, participant_id, task_id, text, created_at, updated_at), every
    cell escaped by csv_cell: a query typed as "=cmd|…" stays text in a spreadsheet."""
    fields = ("study", "participant_id", "task_id", "text", "created_at", "updated_at")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for q in user_queries:
        writer.writerow({k: csv_cell(q.get(k)) for k in fields})
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


def export_names(config: StudyConfig) -> list[str]:
    """The file names of a study's exports: qrels, judgements (CSV, JSONL), user queries (query set, CSV), one run
    per ranker, the participants (progress, attention checks, time on task, platform id) and, when the study asks
    closing questions, the answers."""
    return (["qrels.txt", "judgements.csv", "judgements.jsonl", "user-queries.jsonl", "user-queries.csv"]
            + [f"run-{r}.txt" for r in config.rankers] + ["participants.csv"]
            + (["answers.csv"] if config.questions else []))


PARTICIPANT_FIELDS = ("participant_id", "external_id", "tasks_done", "tasks_assigned", "practice_done",
                      "checks_passed", "checks_failed", "checks_pending", "flagged", "time_on_tasks_s",
                      "median_task_s")


def _csv(rows: Iterable[Mapping], fields: Sequence[str]) -> str:
    """Rows as CSV with a header, every text cell escaped by csv_cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: csv_cell(r.get(k)) for k in fields})
    return buf.getvalue()


def export_file(store, config: StudyConfig, name: str, metaverse_ids: Optional[set] = None,
                flt: ParticipantFilter = NONE) -> str:
    """One export, rendered now from the store (nothing is written to disk): only the participants `flt` keeps,
    only metaverses of the collection (metaverse_ids). ValueError for a name not in export_names(config)."""
    if name not in export_names(config):
        raise ValueError(f"no export named {name!r:.80}; exports: {', '.join(export_names(config))}")
    study = config.name
    judged = store.judgements(study)
    failed = {pid for pid, c in attention_checks(store.shown_lists(study), judged, config).items() if c["failed"]}
    keep, _ = select_participants(store.participants(study), judged, store.tasks_done(study), flt, metaverse_ids,
                                  failed)
    judged = [r for r in judged if r["participant_id"] in keep]
    if name == "qrels.txt":
        return to_qrels(judged, config, metaverse_ids)
    if name == "judgements.csv":
        return to_csv(judged, metaverse_ids)
    if name == "judgements.jsonl":
        return to_jsonl(split_known(judged, metaverse_ids)[0])
    if name == "participants.csv":
        from backend.study.report import participant_table
        checks = attention_checks(store.shown_lists(study), store.judgements(study), config)
        rows = [{**{k: v for k, v in p.items() if k != "checks"}, **{f"checks_{k}": v for k, v in p["checks"].items()}}
                for p in participant_table(store, config, checks) if p["participant_id"] in keep]
        return _csv(rows, PARTICIPANT_FIELDS)
    if name == "answers.csv":
        return _csv((a for a in store.answers(study) if a["participant_id"] in keep),
                    ("study", "participant_id", "question_id", "text", "created_at", "updated_at"))
    if name.startswith("user-queries."):
        queries = [q for q in store.user_queries(study) if q["participant_id"] in keep]
        return to_query_set(queries, config) if name.endswith(".jsonl") else queries_csv(queries)
    shown = [s for s in store.shown_lists(study) if s["participant_id"] in keep]
    return to_runs(shown, config, metaverse_ids).get(name[len("run-"):-len(".txt")], "")


def export_files(store, config: StudyConfig, metaverse_ids: Optional[set] = None,
                 flt: ParticipantFilter = NONE) -> dict[str, str]:
    """Every export of one study by file name (see export_file)."""
    return {name: export_file(store, config, name, metaverse_ids, flt) for name in export_names(config)}


# ---- links the dashboard hands out: they name the file, the filter and an expiry, signed with a key derived from
# the study token (so any process that knows the token checks them, and changing the token revokes them all) ------
LINK_TTL_S = 300
GRANT = re.compile(r"^(\d{1,12})\.(\d{1,4})\.(\d{1,7})\.([01])\.([0-9a-f]{64})$")   # expires.min_tasks.min_gap_ms.
#                                                                                  drop_failed_checks.signature


def _link_key(token: Optional[str] = None) -> bytes:
    token = os.environ.get(TOKEN_ENV) if token is None else token
    if not token:
        raise PermissionError(f"study exports are disabled: set {TOKEN_ENV} to a secret token to enable them")
    return hmac.new(token.encode("utf-8"), b"metaverse-study-export-links/v1", hashlib.sha256).digest()


def _signature(key: bytes, study: str, name: str, expires: int, min_tasks: int, gap_ms: int, checks: int) -> str:
    return hmac.new(key, f"{study}|{name}|{expires}|{min_tasks}|{gap_ms}|{checks}".encode(),
                    hashlib.sha256).hexdigest()


def sign_export(study: str, name: str, flt: ParticipantFilter = NONE, ttl_s: float = LINK_TTL_S,
                token: Optional[str] = None, now: Optional[float] = None) -> str:
    """A grant (one URL path segment) for one export with one filter, valid ttl_s seconds. Call it only after the
    caller showed the token (the dashboard does)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    gap_ms = round(flt.min_median_gap_s * 1000)
    checks = int(flt.drop_failed_checks)
    sig = _signature(_link_key(token), study, name, expires, flt.min_tasks_done, gap_ms, checks)
    return f"{expires}.{flt.min_tasks_done}.{gap_ms}.{checks}.{sig}"


def check_grant(grant: str, study: str, name: str, token: Optional[str] = None,
                now: Optional[float] = None) -> ParticipantFilter:
    """The filter a grant was signed with; PermissionError if it is malformed, forged, for another file, or
    expired."""
    m = GRANT.match(grant or "")
    if not m:
        raise PermissionError("This export link is not valid; open the dashboard again for fresh links.")
    expires, min_tasks, gap_ms, checks, sig = int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5]
    if not hmac.compare_digest(sig, _signature(_link_key(token), study, name, expires, min_tasks, gap_ms, checks)):
        raise PermissionError("This export link is not valid; open the dashboard again for fresh links.")
    if (time.time() if now is None else now) > expires:
        raise PermissionError("This export link has expired (links last a few minutes); open the dashboard again.")
    return ParticipantFilter(min_tasks_done=min_tasks, min_median_gap_s=gap_ms / 1000, drop_failed_checks=bool(checks))
