"""Builds the Gradio app from a loaded SearchService: one tab per module (search, about)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from ui import about, search

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CSS_PATH = ASSETS / "style.css"
TITLE = "Metaverse Search"

HEADER = (
    '<div class="mv-header"><h1>Metaverse Search</h1>'
    "<p>Text → metaverse and image → metaverse retrieval over virtual museums and gaming worlds, "
    "with the rooms that made each match.</p></div>"
)


def build(service) -> gr.Blocks:
    """The whole app. Theme and CSS go to launch() in gradio 6: pass **launch_kwargs()."""
    with gr.Blocks(title=TITLE, fill_width=True) as demo:
        gr.HTML(HEADER, js_on_load=None)
        with gr.Tabs():
            with gr.Tab("Search", id="search"):
                search.build_tab(service)
            with gr.Tab("About", id="about"):
                about.build_tab(service)
    return demo


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="teal", neutral_hue="slate")


def launch_kwargs() -> dict:
    """Keyword arguments for demo.launch() that carry the look (gradio 6 moved theme/css there)."""
    return {"theme": theme(), "css_paths": [CSS_PATH]}
