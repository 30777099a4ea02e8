"""Builds the web app from a loaded SearchService: the Gradio tabs (ui/tabs/), its API endpoints, and the REST
routes, on one FastAPI app."""
from __future__ import annotations

import gradio as gr

from backend.paths import ASSETS
from ui import api
from ui.components.clicks import read_pending
from ui.tabs import about, explore, recommend, search, study

CSS_PATH = ASSETS / "style.css"
TITLE = "Metaverse Search"
QUEUE = dict(default_concurrency_limit=2, max_size=64)  # CPU-bound search: two at a time, the rest wait in line
MAX_UPLOAD = "10mb"            # refused by the server before the upload reaches any handler
UPLOAD_BODY_LIMIT = 11 * 2**20  # the upload route's whole multipart body: one 10 MB file and its form fields
# Any other request: a pasted description is ~4 KB and a Gradio event's JSON a few KB more; 50 MB of text once cost
# 570 MB of memory before a handler saw it.
BODY_LIMIT = 2**20
UPLOAD_CACHE = (600, 1800)     # every 10 min, delete uploads older than 30 min
# Browser sessions whose state (last result, likes, page) is kept; the oldest go first. A k = 50 result weighs about
# 0.2 MB, so the ceiling is ~100 MB of session state instead of Gradio's default 10,000 sessions (~2 GB).
SESSION_CAPACITY = 500
# Headers on every response. The page may be framed only by itself and by Hugging Face (a Space shows the app in an
# iframe there); images come only from this server (so a typed Markdown image could never make a browser fetch a
# remote URL); no plugins; MIME types are not sniffed; no referrer leaves the site.
# Scripts only from this server: inline ones are Gradio's own page boot and this app's head script, and Gradio runs
# every event's js= and js_on_load through new Function(), hence 'unsafe-eval'; styles and fonts may also come from
# Google Fonts, which the theme links.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
                               "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; "
                               "font-src 'self' data: https://fonts.gstatic.com; connect-src 'self'; "
                               "worker-src 'self' blob:; media-src 'self' blob: data:; "
                               "frame-ancestors 'self' https://huggingface.co https://*.hf.space; "
                               "img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

HEADER = (
    '<div class="mv-header"><h1>Metaverse Search</h1>'
    "<p>Text → metaverse and image → metaverse retrieval over virtual museums and gaming worlds, "
    "with the rooms that made each match.</p></div>"
)
# Enter in the query box searches; Shift+Enter (or an IME composition) keeps its usual meaning.
ENTER_SEARCHES_JS = """<script>
document.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Enter' || ev.shiftKey || ev.isComposing || !ev.target.closest) return;
  if (!ev.target.closest('#mv-query')) return;
  ev.preventDefault();
  ev.stopPropagation();
  document.querySelector('#mv-search-btn')?.click();
}, true);
</script>"""
TAB_IDS = ("search", "explore", "recommend", "study", "about")   # also the values of the page URL's ?tab=
# A tab a visitor picks goes into the address bar as ?tab=<id> (no reload), so the link they copy opens that tab.
# A click listener, not Tab.select: Gradio fires select for the first tab as the page mounts, which would overwrite
# the ?tab= the page was opened with before the load event reads it.
TAB_URL_HEAD_JS = """<script>
window.mvSetUrlParams = (params) => {
  const u = new URL(window.location.href);
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') u.searchParams.delete(name);
    else u.searchParams.set(name, value);
  }
  if (u.href !== window.location.href) window.history.replaceState(window.history.state, '', u);
};
document.addEventListener('click', (ev) => {
  const tab = ev.target.closest && ev.target.closest('[role=tab][data-tab-id], .overflow-dropdown [data-tab-id]');
  if (tab) window.mvSetUrlParams({tab: tab.dataset.tabId});
}, true);
</script>"""
TAB_URL_JS = "() => window.mvSetUrlParams?.({tab: '%s'})"


def url_tab(request: gr.Request | None) -> str | None:
    """The tab the page URL's ?tab= names (case-insensitive), or None when it names none or an unknown one."""
    params = getattr(request, "query_params", None) or {}
    tab = str(params.get("tab") or "").strip().lower()
    return tab if tab in TAB_IDS else None


def build(service, study_loaded: tuple | None = None) -> gr.Blocks:
    """The whole Gradio app (theme, CSS and page scripts go to launch()/mount: see launch_kwargs()). study_loaded:
    (the running StudySession or None, why not) as ui.tabs.study.load_session gives it; loaded here when omitted.
    The REST study routes must get the same session, so that both share its per-client limits."""
    with gr.Blocks(title=TITLE, fill_width=True, delete_cache=UPLOAD_CACHE) as demo:
        gr.HTML(HEADER)
        likes = gr.State([])          # the session's liked metaverse ids (kept per browser session)
        study_session, study_error = study_loaded or study.load_session(service)
        last_result = gr.State(None)  # the last search result, shown on the Explore map
        with gr.Tabs() as tabs:
            with gr.Tab("Search", id="search", elem_id="mv-search-tab"):
                hidden = search.build_tab(service, likes, last_result, upload_check(demo))
            with gr.Tab("Explore", id="explore") as explore_tab:
                ex = explore.build_tab(service, likes, last_result)
            with gr.Tab("Recommend", id="recommend") as recommend_tab:
                rec = recommend.build_tab(service, likes)
            with gr.Tab("Study", id="study"):
                study.build_tab(service, study_session, study_error)
            with gr.Tab("About", id="about"):
                about.build_tab(service)
        private = dict(api_visibility="private")

        def open_url_tab(request: gr.Request):
            tab = url_tab(request)
            return gr.Tabs(selected=tab) if tab else gr.skip()

        demo.load(open_url_tab, None, tabs, **private)
        demo.load(*hidden["url_load"], **private)   # ?q= and ?kind=: the Search tab fills in and searches
        if ex:
            def draw_if_explore(request: gr.Request, *args):
                """A tab selected by the URL fires no select event: draw the map the Explore tab opens on."""
                if url_tab(request) == "explore":
                    return ex["draw"](*args)
                return tuple(gr.skip() for _ in ex["outputs"])

            demo.load(draw_if_explore, ex["inputs"], ex["outputs"], **private)
        if ex:
            explore_tab.select(ex["draw"], ex["inputs"], ex["outputs"], **private)
        recommend_tab.select(lambda v: gr.update(value=list(v or [])), likes, rec["liked_box"], **private)
        hidden["more_btn"].click(
            lambda mid, *rest: (*rec["more_like"](mid, *rest), gr.Tabs(selected="recommend")),
            [hidden["more_box"], *rec["settings"]], [*rec["outputs"], tabs],
            js=read_pending("__mvPendingMore", len(rec["settings"])), **private).then(
            None, js=TAB_URL_JS % "recommend", **private)   # the tab opened without its select event
        api.register(service, study_session, check_upload=upload_check(demo))
    demo.queue(**QUEUE)
    demo.state_session_capacity = SESSION_CAPACITY
    return demo


def upload_check(demo: gr.Blocks):
    """payload -> the local path of a file this app received as an upload, else ValueError (ui/uploads.py)."""
    from ui.uploads import uploaded_path
    return lambda payload: uploaded_path(payload, demo)


def theme() -> gr.themes.Base:
    """Soft indigo, with every text colour dark enough for WCAG AA contrast (axe-core: no serious violations)."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="teal", neutral_hue="slate").set(
        body_text_color_subdued="#475569", block_info_text_color="#475569", block_label_text_color="#3730a3",
        block_title_text_color="#3730a3", color_accent="#4338ca", color_accent_soft="#e0e7ff",
        checkbox_label_background_fill_selected="#4338ca", checkbox_label_text_color_selected="#ffffff",
        button_primary_background_fill="#4338ca", button_primary_background_fill_hover="#3730a3",
        button_primary_text_color="#ffffff", link_text_color="#3730a3", link_text_color_visited="#3730a3")


def launch_kwargs() -> dict:
    """What carries the look and the page-wide script (gradio 6 takes them at launch or mount)."""
    return {"theme": theme(), "css_paths": [CSS_PATH], "head": ENTER_SEARCHES_JS + TAB_URL_HEAD_JS + explore.MAP_CLICK_HEAD_JS}


def make_app(service):
    """The ASGI app uvicorn serves: REST routes (/api/v1/…, /thumbs/…) first and the Gradio UI mounted at /, on one
    FastAPI app, inside RequestGuard (security headers on every answer, body limits, JSON 500s)."""
    from fastapi import FastAPI
    from fastapi_offline import FastAPIOffline

    from backend.api.guard import MIB, RequestGuard
    from backend.api.http import API_PREFIX, MAX_ADD_BYTES, install_error_handlers, make_router

    app = FastAPIOffline(title="Metaverse Search API", docs_url=f"{API_PREFIX}/docs", redoc_url=None,
                         openapi_url=f"{API_PREFIX}/openapi.json", static_url=f"{API_PREFIX}/docs-static")
    install_error_handlers(app)
    app.include_router(make_router(service))
    from backend.api.study_http import make_study_router
    study_loaded = study.load_session(service)   # one session for the page and the REST routes: shared limits
    app.include_router(make_study_router(*study_loaded))   # /api/v1/study/…: 4xx refusals, not 500s
    blocks = build(service, study_loaded)
    app = gr.mount_gradio_app(app, blocks, path="/", max_file_size=MAX_UPLOAD, **launch_kwargs())
    # Gradio refuses a file payload that was not uploaded (processing_utils._check_allowed) only once the app counts
    # as launched, and mount_gradio_app() never sets that: without this line any path a client names is copied.
    # (No blocked_paths: this check already refuses them, and its refusal would list every blocked path.)
    blocks.has_launched = True
    from starlette.routing import Mount
    for route in app.routes:   # Gradio's own FastAPI app, mounted at /: its 422s echoed a whole 1 MB body back
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            install_error_handlers(route.app)
    from ui.uploads import RemoteFileFilter
    return RequestGuard(RemoteFileFilter(app), SECURITY_HEADERS, default_limit=BODY_LIMIT, limits=[
        ("/gradio_api/upload", UPLOAD_BODY_LIMIT), (f"{API_PREFIX}/metaverses", MAX_ADD_BYTES + MIB)])
