"""The user study's JSON routes (/api/v1/study/…): participants start, resume, view tasks and grade; the researcher
reads the report and downloads exports with the study token or a signed link. Every refusal is a 4xx with
{"error": message}."""
from __future__ import annotations

import json
import math
import os
from typing import Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from backend.api.ratelimit import client_key
from backend.study.errors import NotAllowedError, NotReadyError, RateLimitedError, UnknownError

STUDY_PREFIX = "/api/v1/study"
EXPORTS_ROUTE = f"{STUDY_PREFIX}/exports"
MAX_BODY = 8 * 1024   # a grade or a query is a few hundred bytes
MEDIA = {".txt": "text/plain; charset=utf-8", ".csv": "text/csv; charset=utf-8",
         ".jsonl": "application/x-ndjson; charset=utf-8"}
STATUS = ((RateLimitedError, 429), (UnknownError, 404), (NotAllowedError, 403), (NotReadyError, 409))
ERROR = {"content": {"application/json": {"example": {"error": "what was wrong, and what to do"}}}}


def json_response(body, status: int = 200, headers: Optional[dict] = None) -> Response:
    """JSON in ASCII (a lone surrogate quoted in a message cannot break the encoding), never cached."""
    text = json.dumps(body, ensure_ascii=True, allow_nan=False)
    return Response(text, status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def error(message: str, status: int, headers: Optional[dict] = None) -> Response:
    return json_response({"error": message}, status, headers)


def refused(exc: ValueError) -> Response:
    """The status for a study refusal: 429 (with Retry-After), 404, 403, 409, else 400."""
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 400)
    headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if isinstance(exc, RateLimitedError) else None
    return error(str(exc), status, headers)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number this API takes")


async def read_json(request: Request) -> dict:
    """The body as a JSON object (at most MAX_BODY bytes; NaN and Infinity refused); ValueError otherwise."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise ValueError(f"The body is larger than {MAX_BODY} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ValueError(f"The body is larger than {MAX_BODY} bytes.")
    try:
        data = json.loads(bytes(body) or b"{}", parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"The body is not JSON ({str(exc)[:80]}).") from None
    if not isinstance(data, dict):
        raise ValueError("The body must be a JSON object.")
    return data


def requester(request: Request) -> str:
    return client_key(request.client.host if request.client else None, request.headers.get("x-forwarded-for"))


def make_study_router(session, why_not: Optional[str] = None) -> APIRouter:
    """The routes over one running StudySession (None: every route says why there is no study: `why_not`, or that
    it is switched off)."""
    router = APIRouter(tags=["study"])
    missing = error(why_not or "No study is running on this server (METAVERSE_STUDY=off).", 503 if why_not else 404)

    def _run(fn, *args, status: int = 200) -> Response:
        if session is None:
            return missing
        try:
            return json_response(fn(*args), status)
        except ValueError as exc:
            return refused(exc)

    @router.get(STUDY_PREFIX, responses={404: ERROR})
    def study_info() -> Response:
        """The running study: name, title, consent text, results per task (k) and the grading scale."""
        def info():
            c = session.config
            return {"study": c.name, "title": c.title, "consent": c.consent, "k": c.k,
                    "scale": {"min": c.scale.min, "max": c.scale.max, "labels": list(c.scale.labels)},
                    "room_judgements": c.room_judgements, "tasks_per_participant": c.tasks_per_participant,
                    "tasks_per_kind": dict(c.per_kind), "show_titles": c.show_titles,
                    "practice": c.practice is not None, "questions": [{"id": q.id, "text": q.text}
                                                                      for q in c.questions]}
        return _run(info)

    @router.post(f"{STUDY_PREFIX}/enter", responses={400: ERROR, 404: ERROR, 429: ERROR})
    async def enter(request: Request) -> Response:
        """Entry by a crowd platform's link: body {"study": "<name>", "pid": "<the platform's participant id>"}.
        The first visit makes a participant that keeps the id (201, with a resume code); a repeat visit resumes the
        same participant (200, code null, returning true), never a second one. New entries are rate limited per
        client (429)."""
        try:
            body = await read_json(request)
        except ValueError as exc:
            return error(str(exc), 400)
        study, pid = body.get("study"), body.get("pid")
        if not isinstance(study, str) or not isinstance(pid, str):
            return error('Give {"study": "<study name>", "pid": "<participant id from the platform>"}.', 400)
        if session is None:
            return missing
        try:
            out = await run_in_threadpool(session.enter, study, pid, requester(request))
        except ValueError as exc:
            return refused(exc)
        return json_response(out, 200 if out["returning"] else 201)

    @router.get(f"{STUDY_PREFIX}/practice", responses={403: ERROR, 404: ERROR})
    def practice() -> Response:
        """The practice task: its query and results (rooms as image URLs); the expected grades come back from
        POST …/participants/{participant_id}/practice once every result has a grade."""
        return _run(lambda: session.practice_view())

    @router.post(f"{STUDY_PREFIX}/participants/{{participant_id}}/practice", responses={400: ERROR, 403: ERROR,
                                                                                       404: ERROR})
    async def grade_practice(participant_id: str, request: Request) -> Response:
        """Grade the practice: body {"grades": {"<metaverse id>": grade, …}} → each result's expected grade and why,
        and all_graded (true marks the practice done). Practice grades are not stored."""
        try:
            grades = (await read_json(request)).get("grades")
        except ValueError as exc:
            return error(str(exc), 400)
        if not isinstance(grades, dict):
            return error('Give {"grades": {"<metaverse id>": grade}}.', 400)
        return await run_in_threadpool(_run, lambda: session.grade_practice(participant_id, grades))

    @router.put(f"{STUDY_PREFIX}/participants/{{participant_id}}/answers/{{question_id}}",
                responses={400: ERROR, 404: ERROR})
    async def answer(participant_id: str, question_id: str, request: Request) -> Response:
        """Answer a closing question (asked once every task is done): body {"text": "…"}; "" leaves it unanswered.
        When the last question is answered, the participant's progress shows the study's completion code."""
        try:
            text = (await read_json(request)).get("text")
        except ValueError as exc:
            return error(str(exc), 400)
        return await run_in_threadpool(_run, lambda: session.answer(participant_id, question_id, text))

    @router.post(f"{STUDY_PREFIX}/participants", status_code=201, responses={429: ERROR})
    def start(request: Request) -> Response:
        """Join as a new anonymous participant: {participant_id, code (shown once: keep it to resume), assigned,
        next, done, total, tasks}. The participant_id is your key to your tasks: keep it private. Rate limited per
        client (429 with Retry-After)."""
        return _run(lambda: session.start(client=requester(request)), status=201)

    @router.post(f"{STUDY_PREFIX}/resume", responses={400: ERROR, 404: ERROR, 429: ERROR})
    async def resume(request: Request) -> Response:
        """Continue with a resume code: body {"code": "XXXX-XXXX-XXXX"} → the participant's progress. Wrong codes
        are rate limited per client (429)."""
        try:
            body = await read_json(request)
        except ValueError as exc:
            return error(str(exc), 400)
        code = body.get("code")
        if not isinstance(code, str):
            return error('Give {"code": "XXXX-XXXX-XXXX"}.', 400)
        return await run_in_threadpool(_run, lambda: session.resume(code, client=requester(request)))

    @router.get(f"{STUDY_PREFIX}/participants/{{participant_id}}", responses={404: ERROR})
    def progress(participant_id: str) -> Response:
        """A participant's progress: assigned tasks, which are done, and `next` (null when all are)."""
        return _run(lambda: session.progress(participant_id))

    @router.get(f"{STUDY_PREFIX}/participants/{{participant_id}}/tasks/{{task_id}}",
                responses={403: ERROR, 404: ERROR})
    def task_view(participant_id: str, task_id: str) -> Response:
        """A task: its instructions, and once it has a query, the blinded list of results to grade (the same on
        every visit) with your grades so far. A describe task shows its target until you send your query."""
        return _run(lambda: session.task_view(participant_id, task_id))

    @router.put(f"{STUDY_PREFIX}/participants/{{participant_id}}/tasks/{{task_id}}/query",
                responses={400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    async def write_query(participant_id: str, task_id: str, request: Request) -> Response:
        """A describe task's query, in your words: body {"text": "…"} (at most 500 characters, plain text)."""
        try:
            text = (await read_json(request)).get("text")
        except ValueError as exc:
            return error(str(exc), 400)
        return await run_in_threadpool(_run, lambda: session.write_query(participant_id, task_id, text))

    @router.put(f"{STUDY_PREFIX}/participants/{{participant_id}}/tasks/{{task_id}}/grades/{{metaverse_id:path}}",
                responses={400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    async def grade(participant_id: str, task_id: str, metaverse_id: str, request: Request) -> Response:
        """Grade one result of the list this task showed you: body {"grade": 0..max of the study's scale} (and
        "room" where the study collects room grades). Idempotent: the same result again updates its grade. A
        metaverse you were not shown is refused (403), as is a grade before the list was shown (409)."""
        try:
            body = await read_json(request)
        except ValueError as exc:
            return error(str(exc), 400)
        g, room = body.get("grade"), body.get("room", -1)
        return await run_in_threadpool(_run, lambda: session.judge(participant_id, task_id, metaverse_id, g, room))

    # ---- the researcher's side: the study token ($METAVERSE_STUDY_TOKEN) or a signed link -------------------------
    def _researcher(authorization: Optional[str]) -> Optional[Response]:
        from backend.study.exports import TOKEN_ENV, check_token
        if session is None:
            return missing
        if not os.environ.get(TOKEN_ENV):
            return error(f"The study report and exports are disabled: set {TOKEN_ENV} to a secret token.", 403)
        given = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
        try:
            check_token(given)
        except PermissionError as exc:
            return error(f"{exc} (send 'Authorization: Bearer <token>').", 401, {"WWW-Authenticate": "Bearer"})
        return None

    def _filter(min_tasks_done: Optional[int], min_median_gap_s: Optional[float], drop_failed_checks: bool = False):
        from backend.study.filters import ParticipantFilter
        d = ParticipantFilter()
        return ParticipantFilter(min_tasks_done=d.min_tasks_done if min_tasks_done is None else min_tasks_done,
                                 min_median_gap_s=d.min_median_gap_s if min_median_gap_s is None else min_median_gap_s,
                                 drop_failed_checks=bool(drop_failed_checks))

    def _export(name: str, flt) -> Response:
        from backend.study.exports import export_file
        try:
            text = export_file(session.store, session.config, name, session.metaverse_ids(), flt)
        except ValueError as exc:
            return error(str(exc), 404)
        ext = name[name.rindex("."):]
        return Response(text, media_type=MEDIA.get(ext, "text/plain; charset=utf-8"),
                        headers={"Cache-Control": "no-store",
                                 "Content-Disposition": f'attachment; filename="{session.study}-{name}"'})

    FILTER_DOC = dict(min_tasks_done=Query(None, ge=0, le=1000, description="keep participants who finished at "
                                                                           "least this many tasks (default 1)"),
                      min_median_gap_s=Query(None, ge=0, le=3600, description="drop participants whose median time "
                                                                             "between grades is shorter (default 1)"),
                      drop_failed_checks=Query(False, description="drop participants who failed an attention check"))

    @router.get(f"{STUDY_PREFIX}/report", responses={401: ERROR, 403: ERROR})
    def report(authorization: Optional[str] = Header(None),
               min_tasks_done: Optional[int] = FILTER_DOC["min_tasks_done"],
               min_median_gap_s: Optional[float] = FILTER_DOC["min_median_gap_s"],
               drop_failed_checks: bool = FILTER_DOC["drop_failed_checks"]) -> Response:
        """The dashboard's numbers (progress, per-ranker metrics, interleaving, agreement, who was dropped and why),
        for the participants the filter keeps. Needs 'Authorization: Bearer <study token>'."""
        if (no := _researcher(authorization)) is not None:
            return no
        from backend.study.report import study_report
        flt = _filter(min_tasks_done, min_median_gap_s, drop_failed_checks)
        return json_response(study_report(session.store, session.config, flt=flt,
                                          metaverse_ids=session.metaverse_ids()))

    @router.get(f"{EXPORTS_ROUTE}/{{name}}", response_class=Response, responses={401: ERROR, 404: ERROR})
    def export_with_token(name: str, authorization: Optional[str] = Header(None),
                          min_tasks_done: Optional[int] = FILTER_DOC["min_tasks_done"],
                          min_median_gap_s: Optional[float] = FILTER_DOC["min_median_gap_s"],
                          drop_failed_checks: bool = FILTER_DOC["drop_failed_checks"]) -> Response:
        """One export (qrels.txt, judgements.csv, judgements.jsonl, user-queries.jsonl, user-queries.csv,
        run-<ranker>.txt), rendered now. Needs 'Authorization: Bearer <study token>'."""
        if (no := _researcher(authorization)) is not None:
            return no
        return _export(name, _filter(min_tasks_done, min_median_gap_s, drop_failed_checks))

    @router.get(f"{EXPORTS_ROUTE}/{{grant}}/{{name}}", response_class=Response, responses={403: ERROR, 404: ERROR})
    def export_with_link(grant: str, name: str) -> Response:
        """One export through a link the dashboard made after checking the token: it names the file and the
        filter, and expires within minutes (403 after)."""
        from backend.study.exports import check_grant
        if session is None:
            return missing
        try:
            flt = check_grant(grant, session.study, name)
        except PermissionError as exc:
            return error(str(exc), 403)
        return _export(name, flt)

    return router
