"""The Explore tab: the collection as a UMAP map coloured by HDBSCAN clusters, the current search on it, clusters
and points to open."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import gradio as gr
from gradio.components.plot import PlotData

from ui.components.cards import KIND_CHOICES, e, render_message, render_simple_cards
from ui.components.clicks import CLICKS_JS, read_pending
from ui.components.maps import map_figure

log = logging.getLogger(__name__)

LEVEL_CHOICES = [("Metaverses", "metaverse"), ("Rooms", "room")]
SELECTION_SHOWN = 24   # cards listed for a box/lasso selection; the count says how many it holds
NEIGHBOURS = 8         # "show its neighbours": this many nearest in the ranker's space
# A click on a map point writes its id into the hidden box and presses the hidden button (plotly_click); hovering a
# point with an image shows its thumbnail beside the cursor (plotly's own hover label cannot hold images).
MAP_JS = """
(() => {
  const attach = () => {
    const plot = document.querySelector('#mv-map .js-plotly-plot');
    if (!plot || plot.__mvClick || !plot.on) return;
    plot.__mvClick = true;
    const tip = document.createElement('img');
    tip.className = 'mv-map-thumb';
    tip.alt = '';
    tip.width = 64;
    tip.height = 64;
    tip.style.display = 'none';
    plot.parentElement.style.position = 'relative';
    // a redrawn map is a new graph div in the same box: the old one's thumbnail goes with it
    plot.parentElement.querySelectorAll(':scope > img.mv-map-thumb').forEach((el) => el.remove());
    plot.parentElement.appendChild(tip);
    plot.on('plotly_hover', (ev) => {
      const pt = ev?.points?.[0];
      const url = pt?.customdata?.[3];
      if (!url || !ev.event) { tip.style.display = 'none'; return; }
      const box = plot.parentElement.getBoundingClientRect();
      tip.src = url;
      tip.style.left = `${ev.event.clientX - box.left + 14}px`;
      tip.style.top = `${ev.event.clientY - box.top - 80}px`;
      tip.style.display = 'block';
    });
    plot.on('plotly_unhover', () => { tip.style.display = 'none'; });
    // labels that would overlap one drawn before them are hidden: hit numbers in rank order first, then cluster
    // labels largest cluster first; every afterplot (zoom included) decides again, so zooming in shows more
    const declutter = () => {
      const kept = [];
      const hit = (r) => kept.some(k => r.left < k.right && r.right > k.left && r.top < k.bottom && r.bottom > k.top);
      const els = [...plot.querySelectorAll('.scatterlayer .textpoint'), ...plot.querySelectorAll('g.annotation')];
      for (const el of els) {
        el.style.display = '';
        const r = el.getBoundingClientRect();
        if (!r.width) continue;
        if (hit(r)) el.style.display = 'none'; else kept.push(r);
      }
    };
    // a phone's 390 px would stack the legend a screen tall under a sliver of map: labels and hover name clusters
    const narrow = () => {
      if (window.Plotly && plot.clientWidth < 600 && plot.layout?.showlegend !== false)
        window.Plotly.relayout(plot, {showlegend: false});
    };
    plot.on('plotly_afterplot', () => { narrow(); declutter(); });
    narrow();
    declutter();
    // a box or lasso selection lists its metaverses below the map
    plot.on('plotly_selected', (ev) => {
      const ids = [...new Set((ev?.points || []).map(pt => pt?.customdata?.[0]).filter(Boolean))];
      if (!ids.length) return;
      window.__mvPendingSelection = ids.join('\\n');
      const box = document.querySelector('#mv-select-box textarea, #mv-select-box input');
      if (box) { box.value = window.__mvPendingSelection; box.dispatchEvent(new Event('input', {bubbles: true})); }
      document.querySelector('#mv-select-btn')?.click();
    });
    plot.on('plotly_click', (ev) => {
      const id = ev?.points?.[0]?.customdata?.[0];
      if (!id) return;
      window.__mvPendingPoint = id;
      const box = document.querySelector('#mv-point-box textarea, #mv-point-box input');
      if (box) { box.value = id; box.dispatchEvent(new Event('input', {bubbles: true})); }
      document.querySelector('#mv-point-btn')?.click();
    });
  };
  new MutationObserver(attach).observe(document.documentElement, {childList: true, subtree: true});
  attach();
})();
"""


def _plotly_chunk() -> str | None:
    """The file name of gradio's lazily loaded plotly.js chunk (hashed per gradio release), or None if not one."""
    found = sorted((Path(gr.__file__).parent / "templates" / "frontend" / "assets").glob("PlotlyPlot-*.js"))
    return found[0].name if len(found) == 1 else None


# gr.Plot imports its 4.6 MB plotly.js chunk only when a plot first gets a value, so the first Explore click paid
# its download, parse and start-up; the page imports it once idle after load (same URL: one module, reused).
PRELOAD_JS = """
(() => {
  const chunk = %s;
  if (!chunk) return;
  const go = () => {
    const main = document.querySelector('script[type=module][src*="assets/index-"]');
    if (!main || window.__mvPlotlyPreload) return;
    window.__mvPlotlyPreload = import(new URL(chunk, main.src).href)
      .then(() => { window.__mvPlotlyReady = performance.now(); })
      .catch(() => {});   // a renamed chunk only loses the head start: gr.Plot still imports its own
  };
  const later = () => (window.requestIdleCallback ? requestIdleCallback(go, {timeout: 1500}) : setTimeout(go, 300));
  if (document.readyState === 'complete') later(); else window.addEventListener('load', later);
})();
""" % json.dumps(_plotly_chunk())
MAP_CLICK_HEAD_JS = f"<script>{MAP_JS}</script><script>{PRELOAD_JS}</script>"   # page head (ui.launch_kwargs)

FIGURES_KEPT = 32   # drawn maps kept per process (one per space/level/kind/search/find...), oldest dropped
_figures: "OrderedDict[tuple, tuple]" = OrderedDict()
_figures_lock = threading.Lock()
_served: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # served ExploreService -> serial number
_serials = iter(range(1, 1 << 62))


def _served_version(explore) -> int:
    """A number per served explore view: adding a metaverse swaps the view whole, so drawn maps of the old one are
    never reused (id() could be reused once the old view is freed; a serial cannot)."""
    with _figures_lock:
        if explore not in _served:
            _served[explore] = next(_serials)
        return _served[explore]


def _result_key(result: dict | None) -> str | None:
    """What of a search result the map draws (its query, ranker and ranked hits), as a short digest."""
    if not result:
        return None
    hits = [(h.get("id"), h.get("rank"), h.get("score")) for h in result.get("results") or []]
    text = json.dumps([result.get("query"), hits], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _agreement_html(data: dict) -> str:
    a = data.get("agreement")
    n = len(data["clusters"])
    noise = data.get("noise", 0)
    total = len(data["points"]["cluster"]) or 1
    line = (f"{n} clusters, {noise} points of noise ({100 * noise / total:.0f} %) · UMAP "
            f"n_neighbors={data['params'].get('n_neighbors')}, seed {data['params'].get('seed')}")
    if a:
        truth = "themes" if data["level"] == "metaverse" else "subjects"
        line += (f" · agreement with the generator's {truth}: adjusted Rand {a['adjusted_rand']:.2f}, "
                 f"NMI {a['nmi']:.2f}")
    n_added = sum(data["points"].get("added") or [])
    if n_added:
        line += (f" · {n_added} added since the build, drawn ◇ where their nearest neighbours lie and given their "
                 f"nearest neighbour's cluster (the next `build maps` lays them out)")
    return f'<p class="mv-muted">{e(line)}</p>'


def build_tab(service, likes: gr.State, result_state: gr.State) -> dict:
    """Lay out the Explore tab; returns its tab-select handler's pieces for ui.build."""
    # service.explore is read per call, never kept: adding a metaverse swaps the served view (and its maps) whole
    rankers = [r for r in service.rankers() if (r, "metaverse") in service.explore.maps]

    def cluster_choices(ranker: str) -> list[tuple[str, int]]:
        data = service.explore.map_json(ranker, "metaverse")
        return [(f"{c['cluster']}: {', '.join(c['terms'])} ({c['size']})", c["cluster"]) for c in data["clusters"]]

    def draw(ranker: str, level: str, kind: str, result: dict | None, cluster, find: str = "", focus=None):
        """(figure, note) for the chosen map; the last search's hits and query on the metaverse map; points matching
        `find` ringed; a picked point's neighbours joined to it. Each drawn map is kept (per served view, so an
        addition draws afresh): a tab click that finds it only sends it."""
        explore = service.explore
        key = (_served_version(explore), ranker, level, kind, _result_key(result), repr(cluster), find or "",
               json.dumps(focus, sort_keys=True, default=str))
        with _figures_lock:
            if key in _figures:
                _figures.move_to_end(key)
                return _figures[key]
        fig, note = _draw(explore, ranker, level, kind, result, cluster, find, focus)
        if fig is None:
            return fig, note
        out = (PlotData(type="plotly", plot=fig.to_json()), note)   # serialised once, as gr.Plot would each time
        with _figures_lock:
            _figures[key] = out
            while len(_figures) > FIGURES_KEPT:
                _figures.popitem(last=False)
        return out

    def _draw(explore, ranker: str, level: str, kind: str, result: dict | None, cluster, find: str, focus):
        try:
            data = explore.map_json(ranker, level, kind)
            placed = None
            if result and level == "metaverse" and (result.get("query") or {}).get("ranker") == ranker:
                placed = explore.place_result(result, ranker)
                if kind != "all":
                    keep = set(data["points"]["id"])
                    placed["hits"] = [h for h in placed["hits"] if h["id"] in keep]
            selected = int(cluster) if cluster not in (None, "") and level == "metaverse" else None
            what = ""
            if placed and placed.get("query"):
                q = result["query"]
                label = f"“{q.get('text', '')[:60]}”" if q.get("type") == "text" else "your last image query"
                what = f'<p class="mv-muted">★ {e(label)} and its {len(placed["hits"])} hits are marked.</p>'
            if focus and focus.get("level") != level:
                focus = None
            return map_figure(data, placed, selected, find=find or "", focus=focus), _agreement_html(data) + what
        except ValueError as exc:
            return None, render_message(str(exc))

    def on_cluster(ranker: str, cluster, liked: list):
        if cluster in (None, ""):
            return gr.skip()
        try:
            info = service.explore.cluster_members(int(cluster), ranker)
        except ValueError as exc:
            return render_message(str(exc))
        head = (f'<p><b>Cluster {info["cluster"]}</b> · {e(", ".join(info["terms"]))} · {info["size"]} metaverses '
                f'· medoid {e(info["medoid"])}</p>')
        return head + render_simple_cards(info["members"], liked)

    def on_medoid(ranker: str, cluster, liked: list):
        if cluster in (None, ""):
            return render_message("Pick a cluster first.")
        medoid = service.explore.cluster_members(int(cluster), ranker, limit=1)["medoid"]
        return on_more(medoid, ranker, liked)

    def on_more(mid: str, ranker: str, liked: list):
        """More like one metaverse: the search engine with that metaverse as the query."""
        try:
            result = service.search(metaverse_ids=[mid], k=10, ranker=ranker)
        except ValueError as exc:
            return render_message(str(exc))
        items = [{**h, "rooms": [r["title"] for r in h["rooms"]],
                  "thumbs": bool(h["rooms"] and h["rooms"][0]["images"] and h["rooms"][0]["images"][0]["url"])}
                 for h in result["results"]]
        title = service.collection.metaverses[service.collection.metaverse_row(mid)].title
        return f'<p><b>More like {e(title)}</b></p>' + render_simple_cards(items, liked)

    def on_point(pid: str, ranker: str, liked: list):
        if not pid:
            return gr.skip()
        mid = pid.split("/")[0]   # a room point opens its metaverse
        try:
            row = service.collection.metaverse_row(mid)
        except ValueError as exc:
            return render_message(str(exc))
        from backend.recommend.service import metaverse_info
        return ('<p><b>Picked on the map</b></p>' + render_simple_cards([metaverse_info(service.collection, row)], liked))

    def on_selection(ids_text: str, liked: list):
        """The metaverses of a box or lasso selection (room points open their metaverse), in map order."""
        ids = list(dict.fromkeys(x.split("/")[0] for x in (ids_text or "").split("\n") if x.strip()))
        if not ids:
            return gr.skip()
        from backend.recommend.service import metaverse_info
        col = service.collection
        rows = []
        for mid in ids:
            try:
                rows.append(col.metaverse_row(mid))
            except ValueError:
                continue
        shown = rows[:SELECTION_SHOWN]
        more = f" (the first {len(shown)} shown)" if len(rows) > len(shown) else ""
        return (f'<p><b>{len(rows)} metaverses in the selection</b>{e(more)}</p>'
                + render_simple_cards([metaverse_info(col, r) for r in shown], liked))

    def on_neighbours(pid: str, ranker: str, level: str, kind: str, result, cluster, find: str, liked: list):
        """The picked point's nearest neighbours in the ranker's own space, joined to it on the map and listed."""
        if not pid:
            return gr.skip(), gr.skip(), render_message("Click a point on the map first."), None
        try:
            level_ = "room" if "/" in pid else "metaverse"
            r = service.engine.rankers[ranker]
            got = service.explore.neighbours(pid, r.room_vecs if level_ == "room" else r.metaverse_vecs, level_,
                                             k=NEIGHBOURS)
        except ValueError as exc:
            return gr.skip(), gr.skip(), render_message(str(exc)), None
        focus = {"id": pid, "neighbours": got["neighbours"], "level": level_}
        fig, note = draw(ranker, level, kind, result, cluster, find, focus)
        from backend.recommend.service import metaverse_info
        col = service.collection
        mids = list(dict.fromkeys(x.split("/")[0] for x in got["neighbours"]))
        cards = render_simple_cards([metaverse_info(col, col.metaverse_row(m)) for m in mids], liked)
        return fig, note, f'<p><b>Nearest to {e(pid)}</b> (cosine in the {e(ranker)} space)</p>' + cards, focus

    # ------------------------------------------------------------ layout
    if not rankers:
        gr.HTML(render_message("This bundle has no maps yet: build them with `python -m backend build maps`."))
        return {}
    with gr.Row(elem_classes="mv-settings-row"):
        ranker = gr.Radio(rankers, value=service.default_ranker if service.default_ranker in rankers else rankers[0],
                          label="Space", elem_id="mv-map-ranker", scale=1)
        level = gr.Radio(LEVEL_CHOICES, value="metaverse", label="Points", elem_id="mv-map-level", scale=1)
        kind = gr.Radio(KIND_CHOICES, value="all", label="Show", elem_id="mv-map-kind", scale=2)
        find = gr.Textbox(label="Find on the map", placeholder="a title or id, e.g. seas", elem_id="mv-map-find",
                          scale=2)
    # The map the tab opens on ships with the page, so the tab draws it as it mounts, without waiting for the
    # select event's round trip; that event sends it again only when it changed (a search, an addition), else the
    # kept PlotData, whose identical JSON gr.Plot does not draw twice.
    try:
        first_fig, first_note = draw(ranker.value, "metaverse", "all", None, None)
    except Exception:   # the select event draws it again and says what went wrong
        log.exception("drawing the Explore map at build failed")
        first_fig, first_note = None, ""
    note = gr.HTML(first_note, elem_id="mv-map-note")
    plot = gr.Plot(first_fig, label="Map (UMAP 2-D, coloured by HDBSCAN cluster; grey = noise). Click a point to open it; "
                         "box or lasso select (toolbar) to list a region.", elem_id="mv-map")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            cluster = gr.Dropdown(cluster_choices(ranker.value), value=None, label="Clusters (largest first)",
                                  elem_id="mv-cluster")
            medoid_btn = gr.Button("More like its medoid", size="sm", elem_id="mv-medoid-btn")
            members = gr.HTML("", js_on_load=CLICKS_JS, elem_id="mv-cluster-members")
        with gr.Column(scale=1):
            picked = gr.HTML('<p class="mv-muted">Click a point on the map to open it here.</p>',
                             js_on_load=CLICKS_JS, elem_id="mv-picked")
            neighbours_btn = gr.Button("Show its neighbours", size="sm", elem_id="mv-neighbours-btn")
            selection = gr.HTML("", js_on_load=CLICKS_JS, elem_id="mv-selection")
    point_box = gr.Textbox(visible="hidden", elem_id="mv-point-box")
    point_btn = gr.Button("open point", visible="hidden", elem_id="mv-point-btn")
    select_box = gr.Textbox(visible="hidden", elem_id="mv-select-box")
    select_btn = gr.Button("list selection", visible="hidden", elem_id="mv-select-btn")
    focus = gr.State(None)   # the picked point and its neighbours while they are drawn

    # ------------------------------------------------------------ wiring
    private = dict(api_visibility="private")
    view = [ranker, level, kind, result_state, cluster, find]
    gr.on([ranker.change, level.change, kind.change, cluster.change, find.submit], draw, view, [plot, note],
          **private)
    ranker.change(lambda r: gr.update(choices=cluster_choices(r), value=None), ranker, cluster, **private)
    cluster.change(on_cluster, [ranker, cluster, likes], members, **private)
    medoid_btn.click(on_medoid, [ranker, cluster, likes], members, **private)
    point_btn.click(on_point, [point_box, ranker, likes], picked, js=read_pending("__mvPendingPoint", 2), **private)
    select_btn.click(on_selection, [select_box, likes], selection, js=read_pending("__mvPendingSelection", 1),
                     **private)
    neighbours_btn.click(on_neighbours, [point_box, *view, likes], [plot, note, selection, focus],
                         js=read_pending("__mvPendingPoint", len(view) + 1), **private)
    return {"draw": draw, "inputs": view, "outputs": [plot, note]}
