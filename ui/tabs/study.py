"""The Study tab: consent, an anonymous resume code, blinded tasks graded per metaverse, and the researcher's
token-protected dashboard with exports."""
from __future__ import annotations

import html
import logging
import tempfile
from pathlib import Path

import gradio as gr

from ui.components.cards import badge, e, render_message
from ui.components.clicks import CLICKS_JS, read_pending

log = logging.getLogger(__name__)


EXPORT_ROOT = Path(tempfile.gettempdir()) / "metaverse-study-exports"
EXPORT_KEEP_S = 600   # Gradio copies returned files into its own cache at once; older folders are only clutter


def fresh_export_dir() -> Path:
    """A new folder for one dashboard click's exports; folders of clicks older than EXPORT_KEEP_S are removed, so
    repeated clicks do not fill the disk."""
    import shutil
    import time
    EXPORT_ROOT.mkdir(parents=True, exist_ok=True)
    for old in EXPORT_ROOT.iterdir():
        try:
            if time.time() - old.stat().st_mtime > EXPORT_KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(dir=EXPORT_ROOT))


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{e(par.strip())}</p>" for par in str(text).split("\n\n") if par.strip())


def render_header(prog: dict, code: str | None = None) -> str:
    done, total = int(prog.get("done", 0)), max(1, int(prog.get("total", 1)))
    code_html = (f'<p class="mv-code">Your resume code: <code>{e(code)}</code> — write it down to continue later '
                 f'(it is shown only now).</p>' if code else "")
    return (f'{code_html}<div class="mv-progress" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
            f'aria-valuenow="{done}" aria-label="tasks done"><div style="width:{round(100 * done / total)}%"></div>'
            f'</div><p class="mv-muted">{done} of {total} tasks done</p>')


def render_task(view: dict, scale_labels: list[str]) -> str:
    """Instructions, the described target (describe tasks), and each result with one button per grade."""
    task = view["task"]
    out = [f'<h2 class="mv-about-head">Task: {e(task["instructions"])}</h2>']
    if view.get("query"):
        out.append(f'<p>Search: <b>“{e(view["query"])}”</b></p>')
    if view.get("target"):
        t = view["target"]
        out.append(f'<div class="mv-card mv-card-compact"><header class="mv-card-head"><h3 class="mv-title">'
                   f'{e(t["title"])}</h3>{badge(t["kind"])}</header><p class="mv-room-list">'
                   f'{e(" · ".join(t["rooms"]))}</p></div>')
    for n, item in enumerate(view.get("items", []), 1):
        mine = view.get("grades", {}).get(item["id"])
        buttons = "".join(
            f'<button type="button" data-grade="{e(item["id"])}|{g}" aria-pressed="{"true" if mine == g else "false"}"'
            f' title="{e(label)}">{g} · {e(label)}</button>' for g, label in enumerate(scale_labels))
        out.append(f'<article class="mv-card mv-card-compact"><header class="mv-card-head"><span class="mv-rank">'
                   f'#{n}</span><h3 class="mv-title">{e(item["title"])}</h3>{badge(item["kind"])}</header>'
                   f'<p class="mv-room-list">{e(" · ".join(item["rooms"]))}</p>'
                   f'<div class="mv-grades" role="group" aria-label="grade result {n}">{buttons}</div></article>')
    return "".join(out)


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

    def show(pid: str, code: str | None = None) -> tuple:
        """(consent visible, task visible, header, task html, query box, query button, next button, done, pid,
        current task)"""
        prog = session.progress(pid)
        if prog["next"] is None:
            return (gr.update(visible=False), gr.update(visible=True), render_header(prog, code), "",
                    gr.update(visible=False), gr.update(visible=False), gr.update(visible=False),
                    '<p class="mv-done">All done — thank you! You can close this page.</p>', pid, None)
        view = session.task_view(pid, prog["next"])
        describe = view["task"]["type"] == "describe" and not view["items"]
        return (gr.update(visible=False), gr.update(visible=True), render_header(prog, code),
                render_task(view, labels), gr.update(visible=describe, value=""), gr.update(visible=describe),
                gr.update(visible=bool(view["items"])), "", pid, prog["next"])

    def warn(msg: str) -> tuple:
        gr.Warning(html.escape(msg))
        return (gr.skip(),) * 7 + (render_message(msg), gr.skip(), gr.skip())

    def on_start():
        p = session.start()
        return show(p["participant_id"], p["code"])

    def on_resume(code: str):
        try:
            return show(session.resume(code or "")["participant_id"])
        except ValueError as exc:
            return warn(str(exc))

    def on_grade(value: str, pid: str, task: str):
        try:
            mid, grade = str(value).rsplit("|", 1)
            session.judge(pid, task, mid, int(grade))
        except (ValueError, TypeError) as exc:
            gr.Warning(html.escape(str(exc)))

    def on_query(text: str, pid: str, task: str):
        try:
            session.write_query(pid, task, text)
        except ValueError as exc:
            return warn(str(exc))
        return show(pid)

    def on_next(pid: str, task: str):
        if task and not session.progress(pid)["tasks"].get(task, {}).get("done"):
            return warn("Grade every result of this task first (your grades are saved as you click).")
        return show(pid)

    # ------------------------------------------------------------ layout
    pid = gr.State(None)
    current = gr.State(None)   # the task on screen
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
        query_box = gr.Textbox(label="How would you search for this metaverse?", visible=False, max_lines=3,
                               elem_id="mv-study-query")
        query_btn = gr.Button("Show results for my query", visible=False, elem_id="mv-study-query-btn")
        next_btn = gr.Button("Next task", variant="primary", visible=False, elem_id="mv-study-next")
    done = gr.HTML("", elem_id="mv-study-done")
    grade_box = gr.Textbox(visible="hidden", elem_id="mv-grade-box")
    grade_btn = gr.Button("grade", visible="hidden", elem_id="mv-grade-btn")
    with gr.Accordion("Researcher dashboard", open=False, elem_id="mv-dashboard"):
        token = gr.Textbox(label="Access token (METAVERSE_STUDY_TOKEN)", type="password", elem_id="mv-token")
        open_btn = gr.Button("Open dashboard", elem_id="mv-dashboard-btn")
        report_html = gr.HTML("", elem_id="mv-report")
        files = gr.File(label="Exports", file_count="multiple", visible=False, elem_id="mv-exports")

    def on_dashboard(tok: str):
        from backend.study import exports
        from backend.study.report import study_report
        try:
            exports.check_token(tok)
        except PermissionError as exc:
            return render_message(str(exc)), gr.update(visible=False)
        rep = study_report(session.store, cfg)
        out = fresh_export_dir()
        paths = []
        for name, text in exports.export_files(session.store, cfg).items():
            (out / name).write_text(text)
            paths.append(str(out / name))
        return render_report(rep), gr.update(value=paths, visible=True)

    outputs = [consent_col, task_col, header, task_html, query_box, query_btn, next_btn, done, pid, current]
    private = dict(api_visibility="private")
    start_btn.click(on_start, None, outputs, **private)
    gr.on([resume_btn.click, code_box.submit], on_resume, code_box, outputs, **private)
    # every click counts: "multiple", since Gradio's default drops clicks that come while one is being handled
    # and no queue: a grade is a sub-millisecond write that should not wait behind searches (ui/api.py, study_judge)
    grade_btn.click(on_grade, [grade_box, pid, current], None, js=read_pending("__mvPendingGrade", 2),
                    show_progress="hidden", trigger_mode="multiple", queue=False, **private)
    gr.on([query_btn.click, query_box.submit], on_query, [query_box, pid, current], outputs, **private)
    next_btn.click(on_next, [pid, current], outputs, **private)
    open_btn.click(on_dashboard, token, [report_html, files], **private)


def render_report(rep: dict) -> str:
    """The dashboard: progress, per-ranker metrics with CIs, interleaving wins, agreement — escaped tables."""
    rows = "".join(f"<tr><th scope='row'>{e(t)}</th><td>{int(n)}</td></tr>" for t, n in rep["task_progress"].items())
    parts = [f'<p>{int(rep["participants"])} participants (complete at {int(rep["participants_needed"])}), '
             f'{int(rep["judgements"])} judgements.</p>',
             f'<table class="mv-info"><thead><tr><th>Task</th><th>participants done</th></tr></thead>'
             f'<tbody>{rows}</tbody></table>']
    metrics = (rep.get("metrics") or {}).get("rankers") or {}
    if metrics:
        names = ["nDCG@5", "nDCG@10", "P@5", "P@10"]
        head = "".join(f"<th>{n}</th>" for n in names)
        body = "".join(
            f"<tr><th scope='row'>{e(r)}</th>" + "".join(
                f"<td>{m[n]['mean']:.3f} [{m[n]['ci_low']:.3f}, {m[n]['ci_high']:.3f}]</td>" for n in names) + "</tr>"
            for r, m in metrics.items())
        parts.append(f'<table class="mv-info"><thead><tr><th>Ranker</th>{head}</tr></thead><tbody>{body}</tbody>'
                     f'</table><p class="mv-muted">means with 95 % bootstrap intervals</p>')
    il = rep["interleaving"]
    wins = ", ".join(f"{e(r)} {int(w)}" for r, w in il["wins"].items())
    parts.append(f"<p>Interleaving wins: {wins}, ties {int(il['ties'])} · sign test p = "
                 f"{il['sign_test']['p_value']:.3g}</p>")
    ag = rep["agreement"]
    alpha = ag.get("krippendorff_alpha_ordinal")
    kappa = (ag.get("cohen_kappa") or {}).get("mean_kappa")
    parts.append(f"<p>Agreement over {int(ag['items_with_2_or_more'])} items judged twice or more: Krippendorff's α "
                 f"(ordinal) {'—' if alpha is None else f'{alpha:.3f}'}, mean Cohen's κ (quadratic) "
                 f"{'—' if kappa is None else f'{kappa:.3f}'}</p>")
    return "".join(parts)
