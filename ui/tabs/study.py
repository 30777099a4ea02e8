"""The Study tab: consent, an anonymous resume code, blinded tasks graded per metaverse, and the researcher's
token-protected dashboard with a participant filter and short-lived export links."""
from __future__ import annotations

import logging

import gradio as gr

from backend.api.ratelimit import client_key
from backend.data.kinds import IMAGE_NOUN, ROOM_NOUN
from ui.components.cards import badge, e, render_message
from ui.components.clicks import CLICKS_JS, read_pending

log = logging.getLogger(__name__)

ALL_GRADED = '<p class="mv-muted" role="status">Every result of this task is graded: go on with “Next task”.</p>'
PRACTICE_GRADED = ('<p class="mv-muted" role="status">Practice graded: compare your grades with ours under each '
                   'result, then go on with “Start the tasks”.</p>')
PRACTICE = "_practice"     # the current task while the practice is on screen (task ids cannot start with "_")
QUESTION = "_q:"           # ... while a closing question is: "_q:<question id>"
QUERY_LABEL = "How would you search for this metaverse?"


def requester(request: gr.Request | None) -> str:
    """Who clicked, for the study's per-client limits (see backend.api.ratelimit.client_key)."""
    if request is None:
        return "unknown"
    headers = getattr(request, "headers", None) or {}
    return client_key(request.client.host if request.client else None, headers.get("x-forwarded-for"))


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{e(par.strip())}</p>" for par in str(text).split("\n\n") if par.strip())


def render_header(prog: dict, code: str | None = None) -> str:
    done, total = int(prog.get("done", 0)), max(1, int(prog.get("total", 1)))
    code_html = (f'<p class="mv-code">Your resume code: <code>{e(code)}</code> — write it down to continue later '
                 f'(it is shown only now).</p>' if code else "")
    return (f'{code_html}<div class="mv-progress" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
            f'aria-valuenow="{done}" aria-label="tasks done"><div style="width:{round(100 * done / total)}%"></div>'
            f'</div><p class="mv-muted">{done} of {total} tasks done</p>')


ZOOM_SIZE = 256     # px of the picture a thumbnail opens
STRIP_SIZE = 96     # px fetched for a strip thumbnail (shown at 64 CSS px: sharp on a phone's 1.5x screen)


def _sized(url: str, size: int) -> str:
    return f"{url}?size={int(size)}"


def render_rooms(item: dict) -> str:
    """Each room as a strip of its images (a click opens the picture larger in a new tab), and the description in a
    closed fold: what a participant grades is the content, titles only where the study shows them."""
    kind = item.get("kind", "museum")
    noun, image_noun = ROOM_NOUN.get(kind, "room").capitalize(), IMAGE_NOUN.get(kind, "image")
    rooms = []
    for r in item.get("rooms", []):
        head = f"{noun} {int(r['number'])}" + (f" · {e(r['title'])}" if r.get("title") else "")
        thumbs = "".join(
            f'<a class="mv-study-zoom" href="{e(_sized(url, ZOOM_SIZE))}" target="_blank" rel="noopener" '
            f'title="open larger"><img src="{e(_sized(url, STRIP_SIZE))}" alt="{e(noun)} {int(r["number"])}, '
            f'{e(image_noun)} {i}" loading="lazy" width="64" height="64"></a>'
            for i, url in enumerate(r.get("images") or [], 1) if url)
        body = (f'<div class="mv-study-strip">{thumbs}</div>' if thumbs
                else f'<p class="mv-room-text">{e(r.get("paragraph", ""))}</p>')   # real data without images
        rooms.append(f'<div class="mv-study-room"><div class="mv-study-room-head">{head}</div>{body}</div>')
    paragraphs = [item.get("intro", "")] + [r.get("paragraph", "") for r in item.get("rooms", [])]
    desc = "".join(f"<p>{e(p)}</p>" for p in paragraphs if p)
    fold = (f'<details class="mv-study-desc"><summary>Read the description</summary>{desc}</details>'
            if desc else "")
    return f'<div class="mv-study-rooms">{"".join(rooms)}</div>{fold}'


def _item_head(item: dict, label: str) -> str:
    """The title where the study shows titles, else a neutral label ("Result 3")."""
    title = e(item["title"]) if item.get("title") else e(label)
    return f'<header class="mv-card-head"><h3 class="mv-title">{title}</h3>{badge(item["kind"])}</header>'


def render_task(view: dict, scale_labels: list[str], answers: dict | None = None) -> str:
    """Instructions, the described target (describe tasks), and each result as its rooms' images with one button per
    grade. `answers` (the practice, once graded): {metaverse id: {given, expected, why}} shown under each result."""
    task = view["task"]
    practice = task.get("type") == "practice"
    head = "Practice" if practice else "Task"
    out = [f'<h2 class="mv-about-head">{head}: {e(task["instructions"])}</h2>']
    if view.get("query"):
        out.append(f'<p class="mv-study-query">Search: <b>“{e(view["query"])}”</b></p>')
    if view.get("target"):
        t = view["target"]
        out.append(f'<article class="mv-card mv-card-compact mv-study-item mv-study-target">'
                   f'{_item_head(t, "The world to describe")}{render_rooms(t)}</article>')
    for n, item in enumerate(view.get("items", []), 1):
        mine = view.get("grades", {}).get(item["id"])
        buttons = "".join(
            f'<button type="button" data-grade="{e(item["id"])}|{g}" aria-pressed="{"true" if mine == g else "false"}"'
            f' title="{e(label)}">{g} · {e(label)}</button>' for g, label in enumerate(scale_labels))
        verdict = ""
        if answers and item["id"] in answers:
            a = answers[item["id"]]
            ok = a["given"] == a["expected"]
            verdict = (f'<p class="mv-study-answer{" mv-study-answer-ok" if ok else ""}" role="note">You gave '
                       f'{e(a["given"])}; we expected <b>{e(a["expected"])} · {e(scale_labels[a["expected"]])}</b>'
                       f'{" — " + e(a["why"]) if a.get("why") else ""}</p>')
        out.append(f'<article class="mv-card mv-card-compact mv-study-item" aria-label="result {n}">'
                   f'{_item_head(item, f"Result {n}")}{render_rooms(item)}'
                   f'<div class="mv-grades" role="group" aria-label="grade result {n}">{buttons}</div>{verdict}'
                   f'</article>')
    return "".join(out)


def render_question(question: dict) -> str:
    return (f'<h2 class="mv-about-head">One last question</h2><p>{e(question["text"])}</p>'
            f'<p class="mv-muted">Write your answer below, or send it empty to skip.</p>')


def render_completion(completion: dict | None) -> str:
    """Thanks, and the crowd platform's completion code and return link from the study config, if it has them."""
    c = completion or {}
    out = ['<div class="mv-done" role="status"><p>All done — thank you!</p>']
    if c.get("code"):
        out.append(f'<p class="mv-code">Your completion code: <code id="mv-completion-code">{e(c["code"])}</code>'
                   f'</p>')
    if c.get("url"):
        out.append(f'<p><a class="mv-study-return" href="{e(c["url"])}" rel="noopener">Return to the study '
                   f'platform to finish</a></p>')
    if not c.get("code") and not c.get("url"):
        out.append('<p class="mv-muted">You can close this page.</p>')
    return "".join(out) + "</div>"


def load_session(service):
    """(the running StudySession or None, why not)."""
    from backend.study.session import default_session
    try:
        return default_session(service), None
    except (ValueError, OSError) as exc:
        return None, f"The study could not be loaded: {exc}"


def build_tab(service, session, error: str | None = None) -> None:
    """Lay out the Study tab for one running study session (or say why there is none)."""
    if error:
        gr.HTML(render_message(error))
        return
    if session is None:
        gr.HTML('<p class="mv-muted">No study is running on this server (METAVERSE_STUDY=off).</p>')
        return
    cfg = session.config
    labels = list(cfg.scale.labels)

    def show(pid: str, code: str | None = None, note: str = "") -> tuple:
        """(consent visible, task visible, header, task html, query box, query button, next button, done, pid,
        current task, status line, practice grades): the practice first, then the next task, then the closing
        question, then the completion code."""
        prog = session.progress(pid)
        off = gr.update(visible=False)
        head = (gr.update(visible=False), gr.update(visible=True), render_header(prog, code))
        if prog["practice"]:
            return (*head, render_task(session.practice_view(), labels), off, off,
                    gr.update(visible=True, value="Start the tasks"), "", pid, PRACTICE, note, {})
        if prog["next"] is None:
            q = prog.get("question")
            if q:
                return (*head, render_question(q), gr.update(visible=True, value="", label=q["text"]),
                        gr.update(visible=True, value="Send"), off, "", pid, QUESTION + q["id"], note, {})
            return (*head, "", off, off, off, render_completion(prog.get("completion")), pid, None, note, {})
        view = session.task_view(pid, prog["next"])
        describe = view["task"]["type"] == "describe" and not view["items"]
        return (*head, render_task(view, labels), gr.update(visible=describe, value="", label=QUERY_LABEL),
                gr.update(visible=describe, value="Show results for my query"),
                gr.update(visible=bool(view["items"]), value="Next task"), "", pid, prog["next"], note, {})

    def warn(msg: str, where: str = "status") -> tuple:
        """The message in the task's status line, or (before a task is on screen) in the line below the form."""
        if where == "status":
            return (gr.skip(),) * 10 + (render_message(msg), gr.skip())
        return (gr.skip(),) * 7 + (render_message(msg),) + (gr.skip(),) * 4

    def on_start(request: gr.Request):
        try:
            p = session.start(client=requester(request))
        except ValueError as exc:
            return warn(str(exc), where="done")
        return show(p["participant_id"], p["code"])

    def on_link(request: gr.Request):
        """?study=<name>&pid=<a crowd platform's participant id>: start that participant, or resume them."""
        params = getattr(request, "query_params", None) or {}
        external = str(params.get("pid") or "").strip()
        if not external:
            return (gr.skip(),) * 12
        try:
            p = session.enter(str(params.get("study") or "").strip(), external, client=requester(request))
        except ValueError as exc:
            return warn(str(exc), where="done")
        note = ('<p class="mv-muted" role="status">Welcome back: you continue where you left off.</p>'
                if p["returning"] else '<p class="mv-muted" role="status">To continue later, open the same link '
                                       'again.</p>')
        return show(p["participant_id"], None, note)

    def on_resume(code: str, request: gr.Request):
        try:
            return show(session.resume(code or "", client=requester(request))["participant_id"])
        except ValueError as exc:
            return warn(str(exc), where="done")

    def on_grade(value: str, pid: str, task: str, practice: dict | None):
        """Store one grade (the practice's only in the page, and answered once every practice result has one); the
        status line under the task says why not, or that the task is fully graded (which also clears an earlier
        "grade every result" warning), and is left as it is otherwise. -> (status, task html, practice grades)"""
        try:
            mid, grade = str(value).rsplit("|", 1)
            grade = int(grade)
        except ValueError:
            return render_message("That grade could not be read; click the grade button again."), gr.skip(), gr.skip()
        if task == PRACTICE:
            grades = {**(practice or {}), mid: grade}
            try:
                res = session.grade_practice(pid, grades)
            except ValueError as exc:
                return render_message(str(exc)), gr.skip(), gr.skip()
            if not res["all_graded"]:
                return gr.skip(), gr.skip(), grades
            view = {**session.practice_view(), "grades": grades}
            return PRACTICE_GRADED, render_task(view, labels, {i["id"]: i for i in res["items"]}), grades
        try:
            session.judge(pid, task, mid, grade)
            done_now = session.progress(pid)["tasks"].get(task, {}).get("done")
        except ValueError as exc:
            return render_message(str(exc)), gr.skip(), gr.skip()
        # grade events run side by side and their answers can arrive out of order: a grade that does not finish the
        # task leaves the status alone, so an earlier click's answer never overwrites "every result is graded"
        return (ALL_GRADED if done_now else gr.skip()), gr.skip(), gr.skip()

    def on_query(text: str, pid: str, task: str):
        try:
            if str(task or "").startswith(QUESTION):
                session.answer(pid, task[len(QUESTION):], text or "")
            else:
                session.write_query(pid, task, text)
        except ValueError as exc:
            return warn(str(exc))
        return show(pid)

    def on_next(pid: str, task: str):
        if task == PRACTICE and session.progress(pid)["practice"]:
            return warn("Grade every practice result first; then you see the grades we expected.")
        if task and task != PRACTICE and not session.progress(pid)["tasks"].get(task, {}).get("done"):
            return warn("Grade every result of this task first (your grades are saved as you click).")
        return show(pid)

    # ------------------------------------------------------------ layout
    pid = gr.State(None)
    current = gr.State(None)   # the task on screen: a task id, PRACTICE, or QUESTION + a question id
    practice_grades = gr.State({})   # the practice's grades live in the page only: they are not judgements
    with gr.Column(visible=True, elem_id="mv-consent") as consent_col:
        gr.HTML(f'<h2 class="mv-about-head">{e(cfg.title or cfg.name)}</h2>{_paragraphs(cfg.consent)}')
        start_btn = gr.Button("I agree — start", variant="primary", elem_id="mv-study-start")
        with gr.Row():
            code_box = gr.Textbox(label="…or continue with your resume code", placeholder="XXXX-XXXX-XXXX",
                                  elem_id="mv-study-code", scale=3)
            resume_btn = gr.Button("Continue", elem_id="mv-study-resume", scale=1)
    with gr.Column(visible=False, elem_id="mv-study-tasks") as task_col:
        header = gr.HTML("", elem_id="mv-study-header")
        task_html = gr.HTML("", js_on_load=CLICKS_JS, elem_id="mv-study-task")
        status = gr.HTML("", elem_id="mv-study-status")
        query_box = gr.Textbox(label=QUERY_LABEL, visible=False, max_lines=3,
                               elem_id="mv-study-query")
        query_btn = gr.Button("Show results for my query", visible=False, elem_id="mv-study-query-btn")
        next_btn = gr.Button("Next task", variant="primary", visible=False, elem_id="mv-study-next")
    done = gr.HTML("", elem_id="mv-study-done")
    grade_box = gr.Textbox(visible="hidden", elem_id="mv-grade-box")
    grade_btn = gr.Button("grade", visible="hidden", elem_id="mv-grade-btn")
    with gr.Accordion("Researcher dashboard", open=False, elem_id="mv-dashboard"):
        token = gr.Textbox(label="Access token (METAVERSE_STUDY_TOKEN)", type="password", elem_id="mv-token")
        with gr.Row():
            min_tasks = gr.Number(1, label="Count participants who finished at least … tasks", precision=0,
                                  minimum=0, maximum=1000, elem_id="mv-min-tasks")
            min_gap = gr.Number(1.0, label="…and took at least … s between grades (median)", minimum=0,
                                maximum=3600, elem_id="mv-min-gap")
        drop_flagged = gr.Checkbox(False, label="…and drop participants who failed an attention check",
                                   elem_id="mv-drop-flagged")
        open_btn = gr.Button("Open dashboard", elem_id="mv-dashboard-btn")
        report_html = gr.HTML("", elem_id="mv-report")
        exports_html = gr.HTML("", elem_id="mv-exports")

    def on_dashboard(tok: str, tasks_done, gap_s, drop_failed: bool):
        from backend.study import exports
        from backend.study.filters import ParticipantFilter
        from backend.study.report import study_report
        try:
            exports.check_token(tok)
        except PermissionError as exc:
            return render_message(str(exc)), ""
        try:
            flt = ParticipantFilter(min_tasks_done=int(tasks_done or 0), min_median_gap_s=float(gap_s or 0),
                                    drop_failed_checks=bool(drop_failed))
        except (ValueError, TypeError) as exc:
            return render_message(str(exc)), ""
        rep = study_report(session.store, cfg, flt=flt, metaverse_ids=session.metaverse_ids())
        links = {name: export_link(cfg.name, name, flt) for name in exports.export_names(cfg)}
        return render_report(rep), render_export_links(links)

    outputs = [consent_col, task_col, header, task_html, query_box, query_btn, next_btn, done, pid, current, status,
               practice_grades]
    private = dict(api_visibility="private")
    from gradio.context import Context
    Context.root_block.load(on_link, None, outputs, **private)   # entry by a crowd platform's link
    start_btn.click(on_start, None, outputs, **private)
    gr.on([resume_btn.click, code_box.submit], on_resume, code_box, outputs, **private)
    # every click counts: "multiple", since Gradio's default drops clicks that come while one is being handled
    # and no queue: a grade is a sub-millisecond write that should not wait behind searches. Without the queue a
    # gr.Warning never reaches the page, so the handler answers in the task's status line instead.
    grade_btn.click(on_grade, [grade_box, pid, current, practice_grades], [status, task_html, practice_grades],
                    js=read_pending("__mvPendingGrade", 3),
                    show_progress="hidden", trigger_mode="multiple", queue=False, **private)
    gr.on([query_btn.click, query_box.submit], on_query, [query_box, pid, current], outputs, **private)
    next_btn.click(on_next, [pid, current], outputs, **private)
    open_btn.click(on_dashboard, [token, min_tasks, min_gap, drop_flagged], [report_html, exports_html], **private)


def export_link(study: str, name: str, flt) -> str:
    """A download link for one export that works for LINK_TTL_S seconds without the token (made after checking it)."""
    from backend.api.study_http import EXPORTS_ROUTE
    from backend.study.exports import sign_export
    return f"{EXPORTS_ROUTE}/{sign_export(study, name, flt)}/{name}"


def render_export_links(links: dict[str, str]) -> str:
    from backend.study.exports import LINK_TTL_S
    items = "".join(f'<li><a href="{e(url)}" download>{e(name)}</a></li>' for name, url in links.items())
    return (f'<p>Exports of the participants counted above (links work for {LINK_TTL_S // 60} minutes; open the '
            f'dashboard again for fresh ones):</p><ul class="mv-exports">{items}</ul>')


SCROLL = '<div class="mv-scroll" style="overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch">'
CONDENSED_NOTE = ("<b>Condensed</b>: each ranker's own top 10 with the documents nobody graded removed, then cut at "
                  "k (pytrec_eval's judged_docs_only), so a ranker is not marked down for results participants never "
                  "saw. <b>Unjudged as 0</b> counts those results as not relevant. bpref ignores them either way.")


def _table(head: list[str], rows: list[list[str]], caption: str = "") -> str:
    """A table in a horizontally scrollable box (readable at 390 px); cells are already escaped HTML."""
    th = "".join(f"<th scope='col'>{h}</th>" for h in head)
    body = "".join(f"<tr><th scope='row'>{r[0]}</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>"
                   for r in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f'{SCROLL}<table class="mv-info">{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _num(x, digits: int = 3) -> str:
    return "—" if x is None else f"{float(x):.{digits}f}"


def render_metrics(m: dict) -> str:
    """Per ranker: condensed nDCG/P@k with 95 % intervals as the headline, unjudged-as-0 beside, bpref, judged %."""
    rankers = m.get("rankers") or {}
    zero = m.get("unjudged_as_0") or {}
    jf = m.get("judged_fraction") or {}
    cuts = [n for n in ("nDCG@5", "nDCG@10", "P@5", "P@10") if any(n in v for v in rankers.values())]
    names = list(rankers)

    def ci(x) -> str:
        return f"<b>{x['mean']:.3f}</b><br><small>[{x['ci_low']:.3f}, {x['ci_high']:.3f}]</small>" if x else "—"
    rows = []                  # one row per figure, one column per ranker: three columns fit a phone
    for n in cuts:
        rows.append([f"<b>{n}</b> condensed"] + [ci(rankers[r].get(n)) for r in names])
        rows.append([f'<span class="mv-muted">{n} unjudged as 0</span>']
                    + [_num((zero.get(r) or {}).get(n, {}).get("mean")) for r in names])
    rows.append(["<b>bpref</b>"] + [ci(rankers[r].get("bpref")) for r in names])
    for k in (5, 10):
        rows.append([f"judged @{k}"] + ["—" if (jf.get(r) or {}).get(f"@{k}") is None
                                         else f"{100 * jf[r][f'@{k}']:.0f} %" for r in names])
    head = ["Figure"] + [e(r) for r in names]
    return (f'<h3>Rankers over {int(m.get("n_queries", 0))} judged queries</h3>'
            + _table(head, rows) + f'<p class="mv-muted">{CONDENSED_NOTE} Bold: the headline mean; brackets: 95 % bootstrap '
            f'interval over queries. <i>judged @k</i>: share of each ranker\'s own top k that someone graded; the '
            f'lower it is, the less the unjudged-as-0 figures say about the ranker.</p>')


def render_disagreement(ag: dict) -> str:
    per_task = ag.get("per_task") or []
    worst = ag.get("most_disagreed") or []
    out = []
    if per_task:
        out.append("<h3>Agreement per task</h3>" + _table(
            ["Task", "items graded twice+", "graders", "α (ordinal)"],
            [[e(t["task"]), str(int(t["items"])), str(int(t["graders"])), _num(t.get("alpha"))] for t in per_task]))
    if worst:
        out.append("<h3>Items graders disagree on most</h3>" + _table(
            ["Task", "metaverse", "grades", "range"],
            [[e(w["task"]), f"<code>{e(w['metaverse_id'])}</code>", e(", ".join(f"{g:g}" for g in w["grades"])),
              f"{w['range']:g}"] for w in worst]))
    people = ag.get("per_participant") or []
    if people:
        top = people[:5]
        out.append(f'<p class="mv-muted">Furthest from the others (mean |grade − others\' median| on shared items): '
                   + "; ".join(f"<code>{e(p['participant_id'])}</code> {p['mean_abs_diff']:.2f} over "
                               f"{int(p['items'])}" for p in top) + ".</p>")
    return "".join(out)


def render_report(rep: dict) -> str:
    """The dashboard: who counts, progress, per-ranker metrics (condensed first), interleaving over fully graded
    lists, agreement overall and per task, the most-disagreed items — escaped, tables scroll sideways on a phone."""
    dropped = rep.get("participants_dropped") or {}
    flt = rep.get("filter") or {}
    why = {"unknown_ids": "graded metaverses outside the collection (forged)",
           "failed_check": "failed an attention check",
           "too_fast": f"graded faster than one result per {flt.get('min_median_gap_s', 0):g} s (median)",
           "fewer_tasks_done": f"finished fewer than {flt.get('min_tasks_done', 0)} tasks"}
    reasons = "; ".join(f"{int(n)} {why.get(r, e(r))}" for r, n in dropped.items() if n)
    refused = int(rep.get("judgements_refused") or 0)
    parts = [f'<p>{int(rep["participants"])} participants (complete at {int(rep["participants_needed"])}), '
             f'{int(rep.get("participants_kept", rep["participants"]))} counted, '
             f'{sum(int(n) for n in dropped.values())} dropped{": " + reasons if reasons else ""}. '
             f'{int(rep["judgements"])} judgements counted'
             f'{f", {refused} refused (metaverse not in the collection)" if refused else ""}.</p>']
    if rep.get("metrics"):
        parts.append(render_metrics(rep["metrics"]))
    il = rep["interleaving"]
    wins = ", ".join(f"{e(r)} {int(w)}" for r, w in il["wins"].items())
    excluded = int(il.get("excluded_partial", 0))
    ungraded = int(il.get("ungraded", 0))
    parts.append(f"<h3>Interleaving</h3><p>Interleaving wins: {wins}, ties {int(il['ties'])} · sign test p = "
                 f"{il['sign_test']['p_value']:.3g} — over {int(il.get('lists_counted', 0))} lists graded to the "
                 f"end; {excluded} partly graded list{'s' if excluded != 1 else ''} left out"
                 f"{f', {ungraded} not graded at all' if ungraded else ''} (a list graded only at #1 would credit "
                 f"whoever placed #1).</p>")
    ag = rep["agreement"]
    alpha = ag.get("krippendorff_alpha_ordinal")
    kappa = (ag.get("cohen_kappa") or {}).get("mean_kappa")
    parts.append(f"<h3>Agreement</h3><p>Over {int(ag['items_with_2_or_more'])} items judged twice or more: "
                 f"Krippendorff's α (ordinal) {_num(alpha)}, mean Cohen's κ (quadratic) {_num(kappa)}</p>")
    parts.append(render_disagreement(ag))
    rows = [[e(t), str(int(n))] for t, n in sorted(rep["task_progress"].items())]
    parts.append("<h3>Progress</h3>" + _table(["Task", "participants done"], rows))
    parts.append(render_participants(rep.get("participant_table") or [], rep.get("attention_checks") or {}))
    return "".join(parts)


def _minutes(seconds) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def render_participants(table: list[dict], checks: dict) -> str:
    """Per participant (everyone, before the filter): tasks done of assigned, attention checks passed / failed (a
    failed one flags the row), time on the finished tasks; narrow columns, so the table fits a phone."""
    if not table:
        return ""
    rows = []
    for p in table:
        c = p["checks"]
        mark = (f'<b class="mv-flag">✗ {int(c["failed"])} failed</b>' if p["flagged"]
                else f'✓ {int(c["passed"])}' if c["passed"] else "—")
        if c["pending"]:
            mark += f' <span class="mv-muted">({int(c["pending"])} not graded)</span>'
        who = f"#{int(p['seq']) + 1}" + (f"<br><small class='mv-ext'>{e(p['external_id'])}</small>"
                                         if p.get("external_id") else "")
        mins = _minutes(p.get("time_on_tasks_s"))
        if p.get("median_task_s") is not None:
            mins += f"<br><small>{_minutes(p['median_task_s'])} / task</small>"
        rows.append([who, f"{int(p['tasks_done'])}/{int(p['tasks_assigned'])}", mark, mins])
    flagged = int(checks.get("participants_flagged") or 0)
    note = (f'{flagged} of {len(table)} participants failed an attention check (a planted result graded against '
            f'the obvious answer). The figures above count them unless “drop participants who failed an attention '
            f'check” is ticked.'
            if checks.get("planted") else "This study plants no attention checks.")
    return ("<h3>Participants</h3>" + _table(["Who", "tasks", "checks", "min"], rows)
            + f'<p class="mv-muted">{note} <i>min</i>: minutes on finished tasks, from opening a task to its last '
              f'grade, and below it the median per task.</p>')
