"""The Search tab: text, image and "more like this" queries; paged metaverse cards with per-room attribution."""
from __future__ import annotations

import html
import inspect
import logging

import gradio as gr

from backend.data.kinds import KIND_FILTERS
from ui.components.cards import (KIND_CHOICES, NO_MATCHES_HTML, PLACEHOLDER_HTML, n_pages, render_active_query,
                                 render_cards, render_detail, render_message, render_room_matches, render_status)
from ui.components.clicks import CLICKS_JS, DETAIL_JS, URL_SYNC_JS, read_pending

log = logging.getLogger(__name__)


READ_PENDING_KEY_JS = read_pending("__mvPendingKey", 4)
SCROLL_TO_RESULTS_JS = "() => { document.querySelector('#mv-status')?.scrollIntoView({behavior: 'smooth'}); }"
# After Previous/Next: the first card of the new page at the top of the window, not the pager at the bottom.
SCROLL_TO_FIRST_CARD_JS = ("() => { setTimeout(() => document.querySelector('#mv-cards .mv-card')?.scrollIntoView("
                           "{block: 'start'}), 50); }")


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

    takes_intent = "kind_intent" in inspect.signature(service.search).parameters   # a backend without it still works

    def run(query: dict, kind: str, k, floor, ranker: str, liked=()) -> tuple:
        query = dict(query)
        intent = query.pop("kind_intent", True)
        extra = {"kind_intent": bool(intent)} if takes_intent else {}
        try:   # full: the detail view shows the description and every room from the same result
            result = service.search(**query, kind=kind, k=k, ranker=ranker or None, full=True,
                                    min_score=float(floor) if floor else None, **extra)   # 0: off, plain top k
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

    def on_settings(last: dict | None, shown_result: dict | None, kind: str, k, floor, ranker: str, liked: list):
        """Filter, k, minimum score or ranker changed: re-run the session's last query, if any, unless the result on
        the page already has these settings (a link's ?kind= sets the filter and searches in one step)."""
        if not last:
            return tuple(gr.skip() for _ in range(9))
        q = (shown_result or {}).get("query") or {}
        asked = (kind, int(k), float(floor) if floor else None, ranker or service.default_ranker)
        if q and (q.get("kind"), q.get("k"), q.get("min_score"), q.get("ranker")) == asked and \
                not (q.get("kind_intent") or {}).get("applied"):
            return tuple(gr.skip() for _ in range(9))
        return run(last, kind, k, floor, ranker, liked)

    def on_intent(value: str, last: dict | None, kind: str, k, floor, ranker: str, liked: list):
        """The kind-intent chip: "off" searches the same text over every kind, "on" as the kind it names."""
        if not last or value not in ("on", "off"):
            return (*(gr.skip() for _ in range(9)), gr.skip())
        query = {**last, "kind_intent": value == "on"}
        out = run(query, kind, k, floor, ranker, liked)
        return (*out, query if _ok(out) else gr.skip())

    def on_url(k, floor, ranker: str, liked: list, request: gr.Request):
        """A shared link: ?q= fills the box and searches, ?kind= sets the filter (?tab= is read by ui.build)."""
        params = getattr(request, "query_params", None) or {}
        text = str(params.get("q") or "")   # never cut: a text over the limit gets the search's own message
        asked = str(params.get("kind") or "").strip().lower()
        kind_value = asked if asked in KIND_FILTERS else "all"
        kind_update = gr.update(value=kind_value) if asked in KIND_FILTERS else gr.skip()
        if not text.strip():
            return (gr.skip(), kind_update, *(gr.skip() for _ in range(9)), gr.skip())
        query = {"text": text, **({"kind_intent": False} if params.get("intent") == "off" else {})}
        out = run(query, kind_value, k, floor, ranker, liked)
        return (text, kind_update, *out, query if _ok(out) else gr.skip())

    def on_detail(mid: str, result: dict | None, liked: list):
        """The detail view of one metaverse of the shown result: every room's images large, its description."""
        hit = next((h for h in (result or {}).get("results") or [] if h.get("id") == mid), None)
        if hit is None:
            return render_message("That metaverse is no longer in the results; search again to open it.")
        return render_detail(hit, mid in (liked or []))

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
        with gr.Column(scale=4, min_width=300):
            query = gr.Textbox(label="Describe a metaverse", lines=1, max_lines=6, autofocus=True,
                               placeholder="a museum with a room of stormy seascapes and a room of flower still lifes"
                                           " (Enter searches, Shift+Enter adds a line)", elem_id="mv-query")
            with gr.Row(equal_height=True, elem_classes="mv-controls-row"):
                search_btn = gr.Button("Search", variant="primary", elem_id="mv-search-btn", scale=0, min_width=120)
                kind = gr.Radio(KIND_CHOICES, value="all", label="Show", show_label=False, elem_id="mv-kind",
                                scale=1, container=False)
            if examples:
                example_set = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[q] for q in examples],
                                         label="Try an example", type="values", elem_id="mv-examples",
                                         samples_per_page=len(examples))
        with gr.Column(scale=1, min_width=200, elem_classes="mv-image-col"):
            image = gr.Image(label="Search by image", type="filepath", sources=["upload", "clipboard"],
                             height=140, elem_id="mv-image")
    # results, minimum score and ranker change what a search returns, not what it is: they wait in a closed fold
    with gr.Accordion("Options: results, minimum score, ranker", open=False, elem_id="mv-options"):
        with gr.Row(elem_classes="mv-settings-row"):
            k = gr.Slider(1, 50, value=10, step=1, label="Results (k)", elem_id="mv-k", scale=2)
            floor = gr.Slider(0, 1, value=0, step=0.05, label="Minimum score (0 = off)", elem_id="mv-min-score",
                              scale=2, info="only hits scoring at least this; k is then the most shown")
            ranker = gr.Dropdown(rankers, value=service.default_ranker, label="Ranker", elem_id="mv-ranker",
                                 interactive=len(rankers) > 1, scale=1)
    active = gr.HTML("", elem_id="mv-active")
    status = gr.HTML("", elem_id="mv-status", js_on_load=CLICKS_JS + URL_SYNC_JS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            cards = gr.HTML(PLACEHOLDER_HTML, js_on_load=CLICKS_JS, elem_id="mv-cards")
            with gr.Row(elem_classes="mv-pager"):
                prev_btn = gr.Button("← Previous", visible=False, size="sm", elem_id="mv-prev", scale=0)
                next_btn = gr.Button("Next →", visible=False, size="sm", elem_id="mv-next", scale=0)
        with gr.Column(scale=1, min_width=240, elem_classes="mv-side"):
            gr.HTML('<h2 class="mv-side-head">Room-level matches</h2>')
            matches = gr.HTML(NO_MATCHES_HTML, js_on_load=CLICKS_JS, elem_id="mv-matches")
    detail = gr.HTML("", js_on_load=CLICKS_JS + DETAIL_JS, elem_id="mv-detail", padding=False)
    with gr.Accordion("Raw result (the JSON the API returns)", open=False, elem_id="mv-details"):
        raw = gr.JSON(label="Raw result")
    key_box = gr.Textbox(visible="hidden", elem_id="mv-key-box")
    key_btn = gr.Button("more like this", visible="hidden", elem_id="mv-key-btn")
    like_box = gr.Textbox(visible="hidden", elem_id="mv-like-box")
    like_btn = gr.Button("like", visible="hidden", elem_id="mv-like-btn")
    more_box = gr.Textbox(visible="hidden", elem_id="mv-more-box")
    more_btn = gr.Button("more like this metaverse", visible="hidden", elem_id="mv-more-btn")
    detail_box = gr.Textbox(visible="hidden", elem_id="mv-detail-box")
    detail_btn = gr.Button("details", visible="hidden", elem_id="mv-detail-btn")
    intent_box = gr.Textbox(visible="hidden", elem_id="mv-intent-box")
    intent_btn = gr.Button("kind intent", visible="hidden", elem_id="mv-intent-btn")

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
    gr.on([kind.change, k.change, floor.change, ranker.change], on_settings, [last_query, result_state, *settings],
          outputs, trigger_mode="always_last", **ui_events)
    intent_btn.click(on_intent, [intent_box, last_query, *settings], [*outputs, last_query],
                     js=read_pending("__mvPendingIntent", len(settings) + 1), **ui_events)
    prev_btn.click(lambda r, p, lk: on_page(r, p, -1, lk), [result_state, page_state, likes], outputs,
                   api_visibility="private").then(None, js=SCROLL_TO_FIRST_CARD_JS)
    next_btn.click(lambda r, p, lk: on_page(r, p, +1, lk), [result_state, page_state, likes], outputs,
                   api_visibility="private").then(None, js=SCROLL_TO_FIRST_CARD_JS)
    detail_btn.click(on_detail, [detail_box, result_state, likes], detail, js=read_pending("__mvPendingDetail", 2),
                     api_visibility="private", show_progress="hidden")
    like_btn.click(on_like, [like_box, likes], likes, js=read_pending("__mvPendingLike", 1), api_visibility="private",
                   show_progress="hidden", trigger_mode="multiple")  # every click counts, even during a search
    return {"more_box": more_box, "more_btn": more_btn,
            "url_load": (on_url, [k, floor, ranker, likes], [query, kind, *outputs, last_query])}
