"""The About tab: what the app does, which bundle it serves, and how to use it."""
from __future__ import annotations

import html
from typing import Any

import gradio as gr

INTRO = """
### Find whole virtual worlds from a sentence or a picture

**Metaverse Search** ranks *metaverses* — virtual **museums** made of rooms of artworks, and **gaming worlds** made of
gameplay segments — against a text description or an image. A hierarchical model (**HiCALM**) reads each collection the
way it is built: images → rooms → metaverse on the visual side, sentences → paragraphs → description on the text side.
A flat **baseline** (mean-pooled encoder features) runs beside it for comparison.

For every hit the app shows **which rooms made it match**: each room's share of the score (leave-one-room-out
attribution), so you can read “room 3 carried 46 % of this match”.
"""

HOW_TO = """
### How to use it
1. **Type** a description — e.g. *a museum with a room of stormy seascapes and a room of flower still lifes* — and press
   **Search** (or Enter), or click one of the examples.
2. **Or drop an image** (upload or paste from the clipboard); the search runs as soon as it arrives.
3. **Click any room thumbnail** in the results to search for *more like this*.
4. Narrow to **Museums** or **Gaming worlds**, change how many results you get, or switch the **ranker**.
5. Open **Details** for per-stage timings and the raw JSON the backend returned (the same JSON the CLI prints).

**API:** `gradio_client.Client(url).predict("stormy seas", "all", 10, "hicalm", api_name="/search")` returns the result JSON;
`/search_image` takes `handle_file(path)` instead of the text.
"""

LABELS = {
    "bundle": "Bundle path", "name": "Bundle", "bundle_name": "Bundle", "encoder": "Encoder", "museums": "Museums",
    "games": "Gaming worlds", "n_museums": "Museums", "n_games": "Gaming worlds", "rooms": "Rooms", "n_rooms": "Rooms",
    "images": "Images", "n_images": "Images", "rankers": "Rankers", "default_ranker": "Default ranker",
    "built": "Built", "build_date": "Built", "created": "Built", "source": "Source", "format_version": "Format version",
}


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        if "name" in value:  # e.g. encoder {"name": ..., "dim": ...}
            rest = ", ".join(f"{k} {v}" for k, v in value.items() if k != "name")
            return f"`{value['name']}`" + (f" ({rest})" if rest else "")
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(f"`{v}`" if isinstance(v, str) else _fmt(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value)).replace("|", "\\|")


def render_info(info: dict) -> str:
    """The bundle's facts as a two-column Markdown table."""
    if not info:
        return "_No bundle information available._"
    flat: dict[str, Any] = {}
    for key, value in info.items():
        if key == "counts" and isinstance(value, dict):  # one row per count
            flat.update(value)
        elif value not in (None, "", {}, []):
            flat[key] = value
    rows = [f"| {LABELS.get(k, k.replace('_', ' ').capitalize())} | {_fmt(v)} |" for k, v in flat.items()]
    return "### The collection being served\n| Property | Value |\n|---|---|\n" + "\n".join(rows)


def build_tab(service) -> None:
    """Lay out the About tab inside the current Blocks context."""
    try:
        info = service.info()
    except Exception as exc:  # the About tab must never take the app down
        info = {"error": str(exc)}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gr.Markdown(INTRO)
            gr.Markdown(HOW_TO)
        with gr.Column(scale=2):
            gr.Markdown(render_info(info), elem_id="mv-bundle-info")
