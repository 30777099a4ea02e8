"""Builds the web app from a loaded SearchService: the Gradio tabs (ui/tabs/), its API endpoints, and the REST
routes, on one FastAPI app."""
from __future__ import annotations

import gradio as gr

from backend.paths import ASSETS
from ui import api
from ui.tabs import about, search

CSS_PATH = ASSETS / "style.css"
TITLE = "Metaverse Search"
QUEUE = dict(default_concurrency_limit=2, max_size=64)  # CPU-bound search: two at a time, the rest wait in line

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


def build(service) -> gr.Blocks:
    """The whole Gradio app (theme and CSS go to launch()/mount: see launch_kwargs())."""
    with gr.Blocks(title=TITLE, fill_width=True) as demo:
        gr.HTML(HEADER)
        with gr.Tabs():
            with gr.Tab("Search", id="search"):
                search.build_tab(service)
            with gr.Tab("About", id="about"):
                about.build_tab(service)
        api.register(service)
    demo.queue(**QUEUE)
    return demo


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="teal", neutral_hue="slate")


def launch_kwargs() -> dict:
    """What carries the look and the page-wide script (gradio 6 takes them at launch or mount)."""
    return {"theme": theme(), "css_paths": [CSS_PATH], "head": ENTER_SEARCHES_JS}


def make_app(service):
    """One FastAPI app: REST routes (/api/v1/…, /thumbs/…) first, the Gradio UI mounted at /."""
    from fastapi import FastAPI

    from backend.api.http import API_PREFIX, make_router

    app = FastAPI(title="Metaverse Search API", docs_url=f"{API_PREFIX}/docs", openapi_url=f"{API_PREFIX}/openapi.json",
                  redoc_url=None)
    app.include_router(make_router(service))
    return gr.mount_gradio_app(app, build(service), path="/", **launch_kwargs())
