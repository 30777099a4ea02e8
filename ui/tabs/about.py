"""The About tab: what the app does, which bundle it serves, and how to use it."""
from __future__ import annotations

from typing import Any

import gradio as gr

from ui.components.cards import e

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
3. **Click any thumbnail** in the results to search for *more like this*; the clicked image becomes the query.
4. Narrow to **Museums** or **Gaming worlds**, change how many results you get, or switch the **ranker**.
5. Hover the time beside the status line for per-stage timings; open **Raw result** for the JSON the API returns.
6. In a gaming world the bars under a segment show where in it the match lies (one bar per frame); in a museum the
   artwork that matched most is outlined.

**API:** `gradio_client.Client(url).predict("stormy seas", "all", 10, "hicalm", api_name="/search")` returns the result JSON;
`/search_image` takes `handle_file(path)` instead of the text. Plain JSON over HTTP: `GET /api/v1/search?q=stormy+seas&k=10`
or `POST /api/v1/search` — schema and every score explained at `/api/v1/docs`.
"""

LABELS = {
    "bundle": "Bundle path", "name": "Bundle", "bundle_name": "Bundle", "encoder": "Encoder", "museums": "Museums",
    "games": "Gaming worlds", "n_museums": "Museums", "n_games": "Gaming worlds", "rooms": "Rooms", "n_rooms": "Rooms",
    "images": "Images", "n_images": "Images", "rankers": "Rankers", "default_ranker": "Default ranker",
    "built": "Built", "build_date": "Built", "created": "Built", "source": "Source", "format_version": "Format version",
}


def _fmt(value: Any, depth: int = 0) -> str:
    """A manifest value as escaped HTML: numbers rounded, nested dicts as small key/value lists."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dict):
        if "name" in value and depth == 0 and len(value) <= 3:  # e.g. encoder {"name": ..., "dim": ...}
            rest = ", ".join(f"{e(k)} {_fmt(v, depth + 1)}" for k, v in value.items() if k != "name")
            return f"<code>{e(value['name'])}</code>" + (f" ({rest})" if rest else "")
        items = "".join(f"<li><span class=\"mv-k\">{e(k.replace('_', ' '))}</span> {_fmt(v, depth + 1)}</li>"
                        for k, v in value.items() if v not in (None, "", {}, []))
        return f'<ul class="mv-kv">{items}</ul>'
    if isinstance(value, (list, tuple)):
        return ", ".join(f"<code>{e(v)}</code>" if isinstance(v, str) else _fmt(v, depth + 1) for v in value)
    return e(value)


def render_info(info: dict) -> str:
    """The bundle's facts as a two-column HTML table (reports as nested lists)."""
    if not info:
        return "<p>No bundle information available.</p>"
    flat: dict[str, Any] = {}
    for key, value in info.items():
        if key == "counts" and isinstance(value, dict):  # one row per count
            flat.update(value)
        elif value not in (None, "", {}, []):
            flat[key] = value
    rows = "".join(f'<tr><th scope="row">{e(LABELS.get(k, k.replace("_", " ").capitalize()))}</th>'
                   f"<td>{_fmt(v)}</td></tr>" for k, v in flat.items())
    return ('<h2 class="mv-about-head">The collection being served</h2>'
            f'<table class="mv-info"><thead><tr><th scope="col">Property</th><th scope="col">Value</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


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
            gr.HTML(render_info(info), elem_id="mv-bundle-info")
