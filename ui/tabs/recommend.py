"""The Recommend tab: the session's liked metaverses, the seeds the recommender chose (and why), its results with
their seed, the liked items' little map and the list's diversity."""
from __future__ import annotations

import html
import logging

import gradio as gr

from ui.components.cards import e, render_message, render_simple_cards
from ui.components.clicks import CLICKS_JS
from ui.components.maps import colour, liked_figure

log = logging.getLogger(__name__)

MODE_CHOICES = [("As in the MediaVerse report (two largest clusters)", "paper"), ("One seed per cluster", "per-cluster")]
ROLE_LABELS = {"medoid": "cluster medoid", "outlier": "random outlier", "outer": "stand-in outlier (outer liked item)",
               "liked": "liked item",
               "collection-medoid": "collection cluster medoid (cold start)"}


def render_seeds(rec: dict) -> str:
    """The seeds as cards: which cluster each came from, why, and how many results it gave."""
    items = []
    for s in rec.get("seeds", []):
        dot = f'<span class="mv-dot" style="background:{colour(int(s["cluster"]))}"></span>'
        items.append(f'<li class="mv-seed">{dot}<div><div class="mv-match-title">{e(s["title"])}</div>'
                     f'<div class="mv-match-meta">{e(ROLE_LABELS.get(s["role"], s["role"]))} · '
                     f'{int(s["share"])} of the results</div><div class="mv-muted">{e(s["reason"])}</div></div></li>')
    split = ", ".join(f"{e(ROLE_LABELS.get(k, k))}: {int(v)}" for k, v in (rec.get("split") or {}).items())
    return (f'<h3 class="mv-side-head">Seeds it chose</h3><ul class="mv-matches">{"".join(items)}</ul>'
            f'<p class="mv-muted">Split of k: {split or "—"}</p>')


def render_ignored(rec: dict) -> str:
    """One line per parameter that changed nothing for these likes, and why (never a silent no-op)."""
    ignored = rec.get("ignored") or {}
    if not ignored:
        return ""
    rows = "".join(f'<li><b>{e(name)} has no effect</b> because {e(why)}.</li>' for name, why in ignored.items())
    return f'<ul class="mv-rec-ignored mv-muted" id="mv-rec-ignored">{rows}</ul>'


def render_summary(rec: dict, more_like: str | None = None) -> str:
    """more_like: the title "More like this metaverse" ran on; the liked list above was not used, so say so."""
    n, liked = len(rec.get("results", [])), len(rec.get("liked", []))
    start = f"{liked} liked {'metaverse' if liked == 1 else 'metaverses'}" if liked else "nothing liked yet (cold start)"
    if more_like:
        start = f"“More like this” on {more_like} alone (your liked list is not used: press Recommend for it)"
    took = (rec.get("timings_ms") or {}).get("recommend")

    def off(name: str) -> str:
        return " (no effect, see below)" if name in (rec.get("ignored") or {}) else ""
    return (f'<div class="mv-status-line"><span><b>{n} recommendations</b> from {e(start)} · intra-list diversity '
            f'<b>{float(rec.get("ild", 0)):.3f}</b> (mean 1 − cosine between results) · d = '
            f'{float(rec["params"].get("d", 0)):.2f}{off("d")} · {e(rec["params"].get("mode", ""))}{off("mode")}</span>'
            f'<span class="mv-timing">{float(took or 0):.0f} ms</span></div>{render_ignored(rec)}')


def build_tab(service, likes: gr.State) -> dict:
    """Lay out the Recommend tab; returns what the cross-tab wiring needs (show a recommendation, sync likes)."""
    def choices() -> list[tuple[str, str]]:
        """Every metaverse the search knows now: service.collection is the served view, added ones included."""
        return [(f"{m.title} ({m.id})", m.id) for m in service.collection.metaverses]

    def show(rec: dict, liked: list, more_like: str | None = None) -> tuple:
        """(summary, seeds, results, liked map)"""
        background = None
        if service.explore.available() and rec["params"].get("ranker") in {r for r, _ in service.explore.maps}:
            background = service.explore.map_json(rec["params"]["ranker"], "metaverse")
        titles = {x["id"]: x["title"] for x in rec["seeds"]}
        for r in rec["results"]:
            r["from_seed"] = f"from seed: {titles.get(r['seed'], r['seed'])}"
        return (render_summary(rec, more_like), render_seeds(rec), render_simple_cards(rec["results"], liked, "from_seed"),
                liked_figure(rec, background))

    def run(liked: list, k, d, mode: str, seed, ranker: str, more_like: str | None = None) -> tuple:
        try:
            rec = service.recommender.recommend(liked=liked or [], k=k, d=d, mode=mode,
                                                seed=None if seed in (None, "") else int(seed), ranker=ranker or None)
        except ValueError as exc:
            gr.Warning(html.escape(str(exc)))  # shown as HTML by Gradio: never markup from input
            return (render_message(str(exc)), gr.skip(), gr.skip(), gr.skip())
        return show(rec, liked, more_like)

    # ------------------------------------------------------------ layout
    gr.HTML('<p class="mv-muted">Press ♥ on any result (Search, Explore) to like it; the recommender clusters what '
            'you liked with HDBSCAN and picks its seeds from those clusters — every choice is shown below. With '
            'nothing liked it starts from the collection\'s own clusters.</p>')
    # allow_custom_value: a metaverse added after the page loaded is liked before its name reaches these choices
    # (the recommender checks every id and names an unknown one)
    liked_box = gr.Dropdown(choices(), value=[], multiselect=True, allow_custom_value=True,
                            label="Liked metaverses (remove with ×, add by name)", elem_id="mv-liked")
    with gr.Row(elem_classes="mv-settings-row"):
        k = gr.Slider(1, 50, value=10, step=1, label="How many (k)", elem_id="mv-rec-k")
        d = gr.Slider(0, 1, value=0.2, step=0.05, label="d: share taken around a random outlier", elem_id="mv-rec-d")
        mode = gr.Radio(MODE_CHOICES, value="paper", label="Seeds", elem_id="mv-rec-mode")
        seed = gr.Number(0, precision=0, minimum=0, label="Random seed", elem_id="mv-rec-seed")
        ranker = gr.Dropdown(service.rankers(), value=service.default_ranker, label="Space", elem_id="mv-rec-ranker")
    go_btn = gr.Button("Recommend", variant="primary", elem_id="mv-rec-btn")
    summary = gr.HTML("", elem_id="mv-rec-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            results = gr.HTML("", js_on_load=CLICKS_JS, elem_id="mv-rec-results")
        with gr.Column(scale=2):
            seeds = gr.HTML("", elem_id="mv-rec-seeds")
            liked_map = gr.Plot(liked_figure({}), label="Liked items on the map", elem_id="mv-rec-map")

    # ------------------------------------------------------------ wiring
    private = dict(api_visibility="private")
    outputs = [summary, seeds, results, liked_map]
    liked_box.change(lambda v: list(v or []), liked_box, likes, **private)
    liked_box.focus(lambda: gr.update(choices=choices()), None, liked_box, **private)   # names of added metaverses
    go_btn.click(run, [likes, k, d, mode, seed, ranker], outputs, **private)

    def more_like(mid: str, k_, d_, mode_, seed_, ranker_):
        """"More like this metaverse": the same seeds path with that one metaverse as the liked set."""
        if not mid:
            return (gr.skip(),) * 4
        col = service.collection
        try:
            title = col.metaverses[col.metaverse_row(mid)].title
        except ValueError:          # run() names the unknown id
            title = mid
        return run([mid], k_, d_, mode_, seed_, ranker_, more_like=title)

    return {"liked_box": liked_box, "outputs": outputs, "more_like": more_like,
            "settings": [k, d, mode, seed, ranker], "run": run}
