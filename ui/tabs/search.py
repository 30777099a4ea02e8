"""The Search tab: text, image and "more like this" queries; paged metaverse cards with per-room attribution."""
from __future__ import annotations

import html
import logging

import gradio as gr

from ui.components.cards import (KIND_CHOICES, NO_MATCHES_HTML, PLACEHOLDER_HTML, n_pages, render_active_query,
                                 render_cards,
                                 render_message, render_room_matches, render_status)
from ui.components.clicks import CLICKS_JS, read_pending

log = logging.getLogger(__name__)


READ_PENDING_KEY_JS = read_pending("__mvPendingKey", 4)
SCROLL_TO_RESULTS_JS = "() => { document.querySelector('#mv-status')?.scrollIntoView({behavior: 'smooth'}); }"


def _ok(outputs: tuple) -> bool:
    """True when run() produced a result (its raw-JSON output holds one), False after a warning."""
    return isinstance(outputs[4], dict) and "results" in outputs[4]


def build_tab(service, likes: gr.State, result_state: gr.State, check_upload) -> dict:
    """Lay out the Search tab inside the current Blocks context and wire its events. `likes` (the session's liked
    ids) and `result_state` (the last search result) are shared with the other tabs; `check_upload` turns an upload
    payload into the local path of a file this app received, or raises ValueError (ui/uploads.py). Returns the hidden
    controls the click handler presses, for the wiring that crosses tabs."""

    # ------------------------------------------------------------ handlers
    def shown(result: dict, page: int = 1, liked=()) -> tuple:
        """(cards, matches, status, active query, raw, prev, next, result state, page state)"""
        pages = n_pages(result)
        return (render_cards(result, page, liked), render_room_matches(result), render_status(result, page),
                render_active_query(result), result, gr.update(visible=pages > 1, interactive=page > 1),
                gr.update(visible=pages > 1, interactive=page < pages), result, page)

    def kept(message: str) -> tuple:
        """A warning in the status line; everything else, previous results included, stays as it was."""
        gr.Warning(html.escape(message))  # shown as HTML by Gradio: never markup from input
        return (gr.skip(), gr.skip(), render_message(message), *(gr.skip() for _ in range(6)))

    def run(query: dict, kind: str, k, floor, ranker: str, liked=()) -> tuple:
        try:
            result = service.search(**query, kind=kind, k=k, ranker=ranker or None,
                                    min_score=float(floor) if floor else None)   # 0: off, plain top k
        except ValueError as exc:
            return kept(str(exc))
        except Exception:  # keep serving other users; the log has the traceback
            log.exception("search failed for %r", {k_: v for k_, v in query.items() if k_ != "image"})
            return kept("Search failed on the server. Please try again, or try another query.")
        return shown(result, 1, liked)

    def on_text(text: str, kind: str, k, floor, ranker: str, liked: list):
        return (*run({"text": text}, kind, k, floor, ranker, liked), {"text": text})

    def on_example(sample, kind: str, k, floor, ranker: str, liked: list):
        text = sample[0] if isinstance(sample, (list, tuple)) else sample
        return (text, *run({"text": text}, kind, k, floor, ranker, liked), {"text": text})

    def on_image(payload, kind: str, k, floor, ranker: str, liked: list):
        """Runs with preprocess=False: the upload is checked by the backend (header first), never decoded here."""
        if not payload:
            return (gr.skip(), gr.skip(), *(gr.skip() for _ in range(9)), gr.skip())
        try:
            path = check_upload(payload)
        except ValueError as exc:
            return (gr.skip(), None, *kept(str(exc)), gr.skip())
        out = run({"image": path}, kind, k, floor, ranker, liked)
        # a refused file leaves the box (the message says why); text and previous results stay
        return ("", gr.skip(), *out, {"image": path}) if _ok(out) else (gr.skip(), None, *out, gr.skip())

    def on_key(key: str, kind: str, k, floor, ranker: str, liked: list):
        if not key:
            return (gr.skip(), gr.skip(), *(gr.skip() for _ in range(9)), gr.skip())
        out = run({"image_key": key}, kind, k, floor, ranker, liked)
        if _ok(out):  # the clicked image becomes the active query; the other inputs clear
            return ("", None, *out, {"image_key": key})
        return (gr.skip(), gr.skip(), *out, gr.skip())

    def on_settings(last: dict | None, kind: str, k, floor, ranker: str, liked: list):
        """Filter, k, minimum score or ranker changed: re-run the session's last query, if any."""
        if not last:
            return tuple(gr.skip() for _ in range(9))
        return run(last, kind, k, floor, ranker, liked)

    def on_page(result: dict | None, page: int, delta: int, liked: list):
        if not result:
            return tuple(gr.skip() for _ in range(9))
        return shown(result, max(1, min(n_pages(result), int(page) + delta)), liked)

    def on_like(mid: str, liked: list):
        """♥ toggled on any card (the button already shows the new state); the session's likes follow."""
        liked = list(liked or [])
        if not mid:
            return gr.skip()
        return [i for i in liked if i != mid] if mid in liked else liked + [mid]

    # ------------------------------------------------------------ layout
    rankers = list(service.rankers())
    examples = list(service.examples())
    last_query = gr.State(None)   # what the filters re-run: {"text"|"image"|"image_key": ...}
    page_state = gr.State(1)

    with gr.Row(equal_height=False, elem_classes="mv-query-row"):
        with gr.Column(scale=3, min_width=320):
            query = gr.Textbox(label="Describe a metaverse", lines=2, max_lines=6, autofocus=True,
                               placeholder="a museum with a room of stormy seascapes and a room of flower still lifes",
                               info="Enter searches; Shift+Enter starts a new line.", elem_id="mv-query")
            with gr.Row():
                search_btn = gr.Button("Search", variant="primary", elem_id="mv-search-btn", scale=0, min_width=140)
            if examples:
                example_set = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[q] for q in examples],
                                         label="Try an example", type="values", elem_id="mv-examples")
        with gr.Column(scale=1, min_width=220):
            image = gr.Image(label="Search by image", type="filepath", sources=["upload", "clipboard"],
                             height=210, elem_id="mv-image")
    active = gr.HTML("", elem_id="mv-active")
    with gr.Row(elem_classes="mv-settings-row"):
        kind = gr.Radio(KIND_CHOICES, value="all", label="Show", elem_id="mv-kind", scale=2)
        k = gr.Slider(1, 50, value=10, step=1, label="Results (k)", elem_id="mv-k", scale=2)
        floor = gr.Slider(0, 1, value=0, step=0.05, label="Minimum score (0 = off)", elem_id="mv-min-score", scale=2,
                          info="only hits scoring at least this; k is then the most shown")
        ranker = gr.Dropdown(rankers, value=service.default_ranker, label="Ranker", elem_id="mv-ranker",
                             interactive=len(rankers) > 1, scale=1)
    status = gr.HTML("", elem_id="mv-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            cards = gr.HTML(PLACEHOLDER_HTML, js_on_load=CLICKS_JS, elem_id="mv-cards")
            with gr.Row(elem_classes="mv-pager"):
                prev_btn = gr.Button("← Previous", visible=False, size="sm", elem_id="mv-prev", scale=0)
                next_btn = gr.Button("Next →", visible=False, size="sm", elem_id="mv-next", scale=0)
        with gr.Column(scale=1, min_width=240, elem_classes="mv-side"):
            gr.HTML('<h2 class="mv-side-head">Room-level matches</h2>')
            matches = gr.HTML(NO_MATCHES_HTML, js_on_load=CLICKS_JS, elem_id="mv-matches")
    with gr.Accordion("Raw result (the JSON the API returns)", open=False, elem_id="mv-details"):
        raw = gr.JSON(label="Raw result")
    key_box = gr.Textbox(visible="hidden", elem_id="mv-key-box")
    key_btn = gr.Button("more like this", visible="hidden", elem_id="mv-key-btn")
    like_box = gr.Textbox(visible="hidden", elem_id="mv-like-box")
    like_btn = gr.Button("like", visible="hidden", elem_id="mv-like-btn")
    more_box = gr.Textbox(visible="hidden", elem_id="mv-more-box")
    more_btn = gr.Button("more like this metaverse", visible="hidden", elem_id="mv-more-btn")

    # ------------------------------------------------------------ wiring
    settings = [kind, k, floor, ranker, likes]
    outputs = [cards, matches, status, active, raw, prev_btn, next_btn, result_state, page_state]
    ui_events = dict(api_visibility="private", show_progress_on=[cards])
    gr.on([search_btn.click, query.submit], on_text, [query, *settings], [*outputs, last_query], **ui_events)
    if examples:
        example_set.click(on_example, [example_set, *settings], [query, *outputs, last_query], **ui_events)
    image.upload(on_image, [image, *settings], [query, image, *outputs, last_query], preprocess=False, **ui_events)
    key_btn.click(on_key, [key_box, *settings], [query, image, *outputs, last_query], js=READ_PENDING_KEY_JS,
                  **ui_events).then(None, js=SCROLL_TO_RESULTS_JS)
    # k.change covers dragging and typing a number; always_last collapses a drag into one search after the current one
    gr.on([kind.change, k.change, floor.change, ranker.change], on_settings, [last_query, *settings], outputs,
          trigger_mode="always_last", **ui_events)
    prev_btn.click(lambda r, p, lk: on_page(r, p, -1, lk), [result_state, page_state, likes], outputs,
                   api_visibility="private")
    next_btn.click(lambda r, p, lk: on_page(r, p, +1, lk), [result_state, page_state, likes], outputs,
                   api_visibility="private")
    like_btn.click(on_like, [like_box, likes], likes, js=read_pending("__mvPendingLike", 1), api_visibility="private",
                   show_progress="hidden", trigger_mode="multiple")  # every click counts, even during a search
    return {"more_box": more_box, "more_btn": more_btn}
