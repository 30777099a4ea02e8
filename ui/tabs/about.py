"""The About tab: what the collection is and how to bring your own, how to use the app, and (folded) the manifest."""
from __future__ import annotations

import os
from typing import Any

import gradio as gr

from ui.components.cards import e

INTRO = """
### Find whole virtual worlds from a sentence or a picture

**Metaverse Search** ranks *metaverses* — virtual **museums** made of rooms of artworks, and **gaming worlds** made of
gameplay segments — against a text description or an image. A hierarchical model (**HiCALM**) reads each collection the
way it is built: images → rooms → metaverse on the visual side, sentences → paragraphs → description on the text side.
A room is scored half in HiCALM's room space and half in the encoder's own, which keeps style words (“cubist”, “pixel
art”) that the hierarchy alone loses. A flat **baseline** (mean-pooled encoder features) runs beside it for comparison.

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

# The README section with `python -m backend add` (a metaverse while the app runs) and `python -m backend import`
# (a published collection's features into a bundle).
README_SECTION = ("Command line", "command-line")


def readme_link() -> str:
    """The README section as a link a visitor can open: the Space's own README on a Hugging Face Space (SPACE_ID is
    set there), else the file's path in the checkout the app runs from (this app does not serve its README)."""
    title, anchor = README_SECTION
    space = os.environ.get("SPACE_ID", "")
    if space.count("/") == 1:
        url = f"https://huggingface.co/spaces/{space}/blob/main/README.md#{anchor}"
        return f'<a href="{e(url)}" target="_blank" rel="noopener">the README\'s <i>{e(title)}</i> section</a>'
    return f"the README's <i>{e(title)}</i> section (<code>README.md#{e(anchor)}</code>)"


def collection_counts(service) -> dict:
    """What the service serves now (the bundle plus any additions): metaverses by kind, rooms, images."""
    col = service.collection
    kinds = [m.kind for m in col.metaverses]
    return {"metaverses": col.n_metaverses, "museums": kinds.count("museum"), "games": kinds.count("game"),
            "rooms": col.n_rooms, "images": int(col.room_image_offsets[-1]),
            "added": len(getattr(service.view, "added", ()) or ())}


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def render_summary(counts: dict, source: dict) -> str:
    """The top of the tab in plain words: what the collection is, its size, and how to bring your own."""
    size = (f"<b>{_plural(counts['metaverses'], 'metaverse')}</b> ({_plural(counts['museums'], 'museum')} and "
            f"{_plural(counts['games'], 'gaming world')}), {_plural(counts['rooms'], 'room')} and "
            f"{_plural(counts['images'], 'image')}")
    added = f" {_plural(counts['added'], 'of them was', 'of them were')} added while the app runs." \
        if counts["added"] else ""
    kind = str(source.get("type") or "demo")
    if kind == "demo":
        what = (f"<p><b>This is a synthetic demo world.</b> Its {size} were generated and rendered by code "
                "(<code>python -m backend build demo</code>, from <code>backend/world/</code>): invented titles, "
                "descriptions and pictures, not real museums or games. It is here so you can try the search, the "
                f"model and the study without anyone's data.{added}</p>")
    else:
        what = (f"<p><b>This collection was imported from <code>{e(kind)}</code></b> "
                f"(<code>python -m backend import {e(kind)}</code>): {size}.{added}</p>")
    bring = ("<p><b>Bring your own collection.</b> Add a metaverse while the app runs — rooms of images plus a "
             "description with an introduction and one paragraph per room — with <code>python -m backend add "
             "spec.json</code> or the token-protected REST route, or import a published collection's features "
             "into a bundle of its own with <code>python -m backend import</code> and serve that. How, with an "
             f"example spec: {readme_link()}.</p>")
    return f'<div style="max-width: 62em"><h2 class="mv-about-head">What you are searching</h2>{what}{bring}</div>'


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
    """The bundle's facts as a two-column HTML table (nested values as small lists)."""
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


REPORT_TITLES = {"image_tower": "Image tower training", "hicalm_training": "HiCALM training",
                 "build_seconds": "Build time (s)", "maps_seconds": "Map build time (s)"}


def render_reports(reports: dict, source: dict | None = None) -> str:
    """The manifest's source and its training and build reports, one small heading and key/value list each."""
    head = f'<h3 class="mv-about-head" style="break-after: avoid; margin-top: 0.7em">Source</h3>{_fmt(source)}' if source else ""
    if not reports:
        return head + "<p>The bundle's manifest records no training or build reports.</p>"
    parts = [head] + [f'<h3 class="mv-about-head" style="break-after: avoid; margin-top: 0.7em">{e(REPORT_TITLES.get(k, k.replace("_", " ").capitalize()))}</h3>'
             f"{_fmt(v) if isinstance(v, dict) else f'<p>{_fmt(v)}</p>'}" for k, v in reports.items()]
    return ("<p>What the build recorded in the bundle's <code>manifest.json</code> (<code>reports</code>); how the "
            "rankers score on the test split is in the README's <i>Results</i>.</p>"
            f'<div style="columns: 3 20em; column-gap: 2.5em">{"".join(parts)}</div>')   # ~700 px open, not 2,000


def build_tab(service) -> None:
    """Lay out the About tab inside the current Blocks context: the collection in plain words on top, the usage and
    the bundle's facts below, the manifest's training details folded."""
    try:
        info = service.info()
        summary = render_summary(collection_counts(service), info.get("source") or {})
    except Exception as exc:  # the About tab must never take the app down
        info, summary = {"error": str(exc)}, f"<p>The collection could not be described: {e(exc)}</p>"
    reports, source = info.pop("reports", None) or {}, info.pop("source", None) or {}
    info.pop("bundle", None)                  # the server's path to it: nothing a visitor needs
    gr.HTML(summary, elem_id="mv-about-summary")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gr.Markdown(INTRO)
            gr.Markdown(HOW_TO)
        with gr.Column(scale=2):
            gr.HTML(render_info(info), elem_id="mv-bundle-info")
    with gr.Accordion("Manifest: training and build details", open=False, elem_id="mv-about-manifest"):
        gr.HTML(render_reports(reports, source))
