"""The Search tab: text, image and "more like this" queries; metaverse cards with per-room attribution."""
from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr
from gradio.data_classes import FileData
from PIL import Image

log = logging.getLogger(__name__)

KIND_CHOICES = [("All", "all"), ("Museums", "museum"), ("Gaming worlds", "game")]
KIND_LABELS = {"museum": "Museum", "game": "Gaming world"}
THUMB_SIZE = 64  # the resolution the model sees; CSS scales it up
THUMBS_PER_ROOM = 3  # thumbnails shown per room in a card; the rest are counted ("+3")
ROOM_MATCHES_SHOWN = 12

PLACEHOLDER_HTML = (
    '<div class="mv-empty"><div class="mv-empty-icon">🔎</div>'
    "<p>Describe a metaverse, drop an image, or pick an example to start.</p>"
    "<p class=\"mv-muted\">Click any room thumbnail in the results to search for more like it.</p></div>"
)
NO_MATCHES_HTML = '<div class="mv-empty mv-empty-small"><p class="mv-muted">Room-level matches appear here.</p></div>'

# Runs once when a results panel mounts. A click (or Enter) on any element with data-ref writes that image's ref key
# into the hidden textbox and presses the hidden button, whose event reads the key and runs service.search(image_ref_key=...).
CLICK_TO_SEARCH_JS = """
const fire = (node) => {
  const ref = node.dataset.ref;
  if (!ref) return;
  window.__mvPendingRef = ref;
  const box = document.querySelector('#mv-ref-box textarea, #mv-ref-box input');
  if (box) { box.value = ref; box.dispatchEvent(new Event('input', {bubbles: true})); }
  const btn = document.querySelector('#mv-ref-btn');
  if (btn) btn.click();
};
element.addEventListener('click', (ev) => {
  const node = ev.target.closest('[data-ref]');
  if (node) { ev.preventDefault(); fire(node); }
});
element.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Enter' && ev.key !== ' ') return;
  const node = ev.target.closest('[data-ref]');
  if (node) { ev.preventDefault(); fire(node); }
});
"""
# Before the hidden button's event goes to the server, take the key the click stored (robust to input-event timing).
READ_PENDING_REF_JS = "(ref, kind, k, ranker) => [window.__mvPendingRef || ref, kind, k, ranker]"


# ---------------------------------------------------------------- rendering (result dict -> HTML / Markdown)

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(kind: str) -> str:
    return f'<span class="mv-badge mv-badge-{_e(kind)}">{_e(KIND_LABELS.get(kind, kind))}</span>'


def _thumb(service, image_ref: dict | None, ref_key: str, alt: str, css_class: str = "mv-thumb") -> str:
    uri = service.thumbnail_data_uri(image_ref, size=THUMB_SIZE)
    if uri is None:
        return ""
    return (f'<img class="{css_class}" src="{uri}" alt="{_e(alt)}" data-ref="{_e(ref_key)}" '
            f'role="button" tabindex="0" title="More like this" loading="lazy">')


def _room_html(service, mv_id: str, room: dict, best: bool) -> str:
    share = max(0.0, min(1.0, float(room.get("contribution", 0.0))))
    pct = round(100 * share)
    images = room.get("images") or []
    idx = int(room["index"])
    thumbs = [
        _thumb(service, ref, service.image_ref_key(mv_id, idx, i), f"{room.get('title', '')}, image {i + 1}")
        for i, ref in enumerate(images[:THUMBS_PER_ROOM])
    ]
    thumbs = [t for t in thumbs if t]
    if thumbs:
        extra = len(images) - THUMBS_PER_ROOM
        more = f'<span class="mv-more">+{extra}</span>' if extra > 0 else ""
        body = f'<div class="mv-thumbs">{"".join(thumbs)}{more}</div>'
    else:  # real data without images: the room's paragraph stands in for its views
        body = f'<p class="mv-room-text">{_e(room.get("paragraph", ""))}</p>'
    best_cls = " mv-room-best" if best else ""
    best_tag = '<span class="mv-best-tag">best match</span>' if best else ""
    return (
        f'<div class="mv-room{best_cls}">'
        f'<div class="mv-room-head"><span class="mv-room-idx">Room {idx + 1}</span>{best_tag}</div>'
        f'<div class="mv-room-title" title="{_e(room.get("title", ""))}">{_e(room.get("title", ""))}</div>'
        f"{body}"
        f'<div class="mv-bar" title="similarity {float(room.get("score", 0.0)):.2f}">'
        f'<div class="mv-bar-fill" style="width:{pct}%"></div></div>'
        f'<div class="mv-bar-label">carried {pct} %</div>'
        f"</div>"
    )


def render_cards(service, result: dict) -> str:
    """One card per hit: rank, title, kind, score; rooms in order with thumbnails and attribution bars."""
    hits = result.get("results") or []
    if not hits:
        return '<div class="mv-empty"><p>No metaverse matched. Try another query or widen the filter.</p></div>'
    cards = []
    for hit in hits:
        rooms = hit.get("rooms") or []
        best = hit.get("best_room")
        rooms_html = "".join(_room_html(service, hit["id"], r, r.get("index") == best) for r in rooms)
        best_room = next((r for r in rooms if r.get("index") == best), None)
        best_par = ""
        if best_room is not None:
            pct = round(100 * float(best_room.get("contribution", 0.0)))
            best_par = (
                f'<div class="mv-best-par"><span class="mv-best-par-head">Room {int(best) + 1} · '
                f'{_e(best_room.get("title", ""))} carried {pct} % of this match</span>'
                f'<p>{_e(best_room.get("paragraph", ""))}</p></div>'
            )
        cards.append(
            f'<article class="mv-card" data-id="{_e(hit["id"])}">'
            f'<header class="mv-card-head"><span class="mv-rank">#{int(hit.get("rank", 0))}</span>'
            f'<h3 class="mv-title">{_e(hit.get("title", hit["id"]))}</h3>{_badge(hit.get("kind", ""))}'
            f'<span class="mv-score" title="cosine similarity">{float(hit.get("score", 0.0)):.3f}</span></header>'
            f'<div class="mv-rooms">{rooms_html}</div>{best_par}</article>'
        )
    return f'<div class="mv-results">{"".join(cards)}</div>'


def render_room_matches(service, result: dict) -> str:
    """The rooms that match the query best on their own, whichever metaverse they belong to."""
    matches = (result.get("room_matches") or [])[:ROOM_MATCHES_SHOWN]
    if not matches:
        return NO_MATCHES_HTML
    items = []
    for m in matches:
        images = m.get("images") or []
        ref_key = service.image_ref_key(m["metaverse_id"], int(m["room_index"]), 0)
        thumb = _thumb(service, images[0] if images else None, ref_key, m.get("room_title", ""), "mv-match-thumb")
        if not thumb:
            thumb = '<div class="mv-match-thumb mv-match-nothumb">¶</div>'
        items.append(
            f'<li class="mv-match">{thumb}<div class="mv-match-body">'
            f'<div class="mv-match-title">{_e(m.get("room_title", ""))}</div>'
            f'<div class="mv-match-meta">Room {int(m["room_index"]) + 1} of <b>{_e(m.get("metaverse_title", ""))}</b></div>'
            f'<div class="mv-match-meta">{_badge(m.get("kind", ""))}'
            f'<span class="mv-match-score">{float(m.get("score", 0.0)):.3f}</span></div></div></li>'
        )
    return f'<ul class="mv-matches">{"".join(items)}</ul>'


def render_summary(result: dict, what: str) -> str:
    """One line above the results: how many, for what, filter, ranker, time."""
    q = result.get("query") or {}
    n = len(result.get("results") or [])
    kind = {v: label for label, v in KIND_CHOICES}.get(q.get("kind", "all"), q.get("kind", ""))
    total = (result.get("timings_ms") or {}).get("total")
    took = f" · {total:.0f} ms" if isinstance(total, (int, float)) else ""
    return (f"**{n} {'metaverse' if n == 1 else 'metaverses'}** for {what} · {kind} · "
            f"ranker `{q.get('ranker', '')}`{took}")


def render_timings(result: dict) -> str:
    t = result.get("timings_ms") or {}
    rows = "\n".join(f"| {name} | {float(t[name]):.1f} ms |" for name in ("encode", "search", "attribution", "total")
                     if isinstance(t.get(name), (int, float)))
    return f"| stage | time |\n|---|---|\n{rows}" if rows else "_No timings._"


# ---------------------------------------------------------------- handlers

def _unchanged(n: int) -> tuple:
    return tuple(gr.skip() for _ in range(n))


def build_tab(service) -> None:
    """Lay out the Search tab inside the current Blocks context and wire its events."""

    def run(query: dict, kind: str, k: float, ranker: str):
        """Run one search -> (cards, matches, status, timings, raw); on bad input warn and keep the old results."""
        text = str(query.get("text") or "").strip()
        what = (f"“{text[:80]}{'…' if len(text) > 80 else ''}”" if "text" in query else
                "more like the selected image" if "image_ref_key" in query else "your image")
        try:
            result = service.search(**query, kind=kind, k=int(k), ranker=ranker or None)
        except ValueError as exc:
            gr.Warning(str(exc))
            return *_unchanged(2), f"⚠️ {exc}", *_unchanged(2)
        except Exception as exc:  # keep serving other users; the log has the traceback
            log.exception("search failed for %r", {k_: v for k_, v in query.items() if k_ != "image"})
            gr.Warning(f"Search failed: {exc}")
            return *_unchanged(2), f"⚠️ Search failed: {exc}", *_unchanged(2)
        return (render_cards(service, result), render_room_matches(service, result), render_summary(result, what),
                render_timings(result), result)

    def on_text(text: str, kind: str, k: float, ranker: str):
        return (*run({"text": text}, kind, k, ranker), {"mode": "text"})

    def on_example(sample: list, kind: str, k: float, ranker: str):
        text = sample[0] if isinstance(sample, (list, tuple)) else sample
        return (text, *run({"text": text}, kind, k, ranker), {"mode": "text"})

    def on_image(image, kind: str, k: float, ranker: str):
        if image is None:  # cleared
            return _unchanged(6)
        return (*run({"image": image}, kind, k, ranker), {"mode": "image"})

    def on_ref(ref: str, kind: str, k: float, ranker: str):
        if not ref:
            return _unchanged(6)
        return (*run({"image_ref_key": ref}, kind, k, ranker), {"mode": "ref", "ref": ref})

    def on_settings(last: dict | None, text: str, image, kind: str, k: float, ranker: str):
        """Filter, k or ranker changed: re-run the session's last query, if any."""
        mode = (last or {}).get("mode")
        if mode == "text" and text and text.strip():
            return run({"text": text}, kind, k, ranker)
        if mode == "image" and image is not None:
            return run({"image": image}, kind, k, ranker)
        if mode == "ref":
            return run({"image_ref_key": last["ref"]}, kind, k, ranker)
        return _unchanged(5)

    # ------------------------------------------------------------ layout
    rankers = list(service.rankers())
    examples = list(service.examples())
    last_query = gr.State(None)  # {"mode": "text"|"image"|"ref", "ref": ...}: what the filters re-run

    with gr.Row(equal_height=False, elem_classes="mv-query-row"):
        with gr.Column(scale=3, min_width=320):
            query = gr.Textbox(label="Describe a metaverse", lines=2, max_lines=4, autofocus=True,
                               placeholder="a museum with a room of stormy seascapes and a room of flower still lifes",
                               elem_id="mv-query")
            with gr.Row():
                search_btn = gr.Button("Search", variant="primary", elem_id="mv-search-btn", scale=0, min_width=140)
            if examples:
                example_set = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[q] for q in examples],
                                         label="Try an example", type="values", elem_id="mv-examples")
        with gr.Column(scale=1, min_width=220):
            image = gr.Image(label="…or search by image", type="pil", sources=["upload", "clipboard"],
                             height=210, elem_id="mv-image")
    with gr.Row(elem_classes="mv-settings-row"):
        kind = gr.Radio(KIND_CHOICES, value="all", label="Show", elem_id="mv-kind", scale=2)
        k = gr.Slider(1, 50, value=10, step=1, label="Results (k)", elem_id="mv-k", scale=2)
        ranker = gr.Dropdown(rankers, value=service.default_ranker, label="Ranker", elem_id="mv-ranker",
                             interactive=len(rankers) > 1, scale=1)
    status = gr.Markdown("", elem_id="mv-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            cards = gr.HTML(PLACEHOLDER_HTML, js_on_load=CLICK_TO_SEARCH_JS, elem_id="mv-cards")
        with gr.Column(scale=1, min_width=240, elem_classes="mv-side"):
            gr.Markdown("### Room-level matches", elem_classes="mv-side-head")
            matches = gr.HTML(NO_MATCHES_HTML, js_on_load=CLICK_TO_SEARCH_JS, elem_id="mv-matches")
    with gr.Accordion("Details", open=False, elem_id="mv-details"):
        timings = gr.Markdown("_Run a search to see timings._")
        raw = gr.JSON(label="Raw result")
    # "more like this": written by CLICK_TO_SEARCH_JS, rendered but not shown
    ref_box = gr.Textbox(visible="hidden", elem_id="mv-ref-box")
    ref_btn = gr.Button("more like this", visible="hidden", elem_id="mv-ref-btn")

    # ------------------------------------------------------------ wiring
    settings = [kind, k, ranker]
    outputs = [cards, matches, status, timings, raw]
    ui_events = dict(api_visibility="private", show_progress_on=[cards])
    gr.on([search_btn.click, query.submit], on_text, [query, *settings], [*outputs, last_query], **ui_events)
    image.change(on_image, [image, *settings], [*outputs, last_query], **ui_events)
    ref_btn.click(on_ref, [ref_box, *settings], [*outputs, last_query], js=READ_PENDING_REF_JS, **ui_events)
    if examples:
        example_set.click(on_example, [example_set, *settings], [query, *outputs, last_query], **ui_events)
    gr.on([kind.change, k.release, ranker.change], on_settings, [last_query, query, image, *settings], outputs,
          **ui_events)

    # ------------------------------------------------------------ API (gradio_client) endpoints
    def search(text: str, kind: str = "all", k: int = 10, ranker: str = "") -> dict:
        """Text → metaverse search. Returns the search result JSON (results with per-room attribution, room_matches)."""
        try:
            return service.search(text=text, kind=kind, k=int(k), ranker=ranker or None)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def search_image(image: FileData, kind: str = "all", k: int = 10, ranker: str = "") -> dict:
        """Image → metaverse search; pass the image with gradio_client.handle_file(path)."""
        path = image.get("path") if isinstance(image, dict) else getattr(image, "path", None)
        try:
            with Image.open(path) as im:
                pil = im.convert("RGB")
        except Exception as exc:
            raise gr.Error(f"Could not read the image: {exc}", print_exception=False) from None
        try:
            return service.search(image=pil, kind=kind, k=int(k), ranker=ranker or None)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    gr.api(search, api_name="search")
    gr.api(search_image, api_name="search_image")
