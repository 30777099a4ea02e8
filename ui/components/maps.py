"""Map JSON -> plotly figures (SVG; WebGL for big maps): clusters coloured, noise grey and small, cluster labels on
the map, the current query and its hits on top; the liked items' little map for the Recommend tab."""
from __future__ import annotations

import plotly.graph_objects as go

PALETTE = ("#4f46e5", "#0d9488", "#b45309", "#be185d", "#2563eb", "#15803d", "#9333ea", "#c2410c", "#0369a1",
           "#a16207", "#4d7c0f", "#7c3aed", "#db2777", "#0f766e", "#1d4ed8", "#b91c1c")
NOISE = "#9ca3af"
LABELLED_HITS = 10   # hits beyond this rank are ringed but not numbered (k = 50 would bury the map in labels)


def colour(cluster: int) -> str:
    return NOISE if cluster < 0 else PALETTE[cluster % len(PALETTE)]


LEGEND_CLUSTERS = 8  # legend entries for the largest clusters; the rest share one "other clusters" entry
DENSITY_POINTS = 1500   # from this many points a grey density layer shows where the crowd is (the rooms map)
# Below this many points the map is SVG: software WebGL (Chromium without a GPU) took ~850 ms to draw 650 points
# against ~280 ms as SVG; zooming SVG costs 50-150 ms a step instead of ~30, and big maps need WebGL's speed.
WEBGL_POINTS = 1500


def _layout_dict(height: int, title: str = "", equal_axes: bool = True, annotations: list | None = None) -> dict:
    # UMAP axes carry no units, so the main map fills its box (a phone's narrow one too) instead of keeping 1:1
    return dict(height=height, margin=dict(l=10, r=10, t=36 if title else 10, b=10),
                title=dict(text=title) if title else None, plot_bgcolor="white", paper_bgcolor="white",
                dragmode="pan", hovermode="closest",
                legend=dict(orientation="h", y=-0.02, yanchor="top", font=dict(size=11)),
                font=dict(family="system-ui, sans-serif", size=12, color="#1f2937"), xaxis=dict(visible=False),
                yaxis=dict(visible=False, **({"scaleanchor": "x"} if equal_axes else {})),
                annotations=annotations or [])


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """A Figure from dicts this module wrote, skipping plotly's per-property validation (the slow part; the default
    template is still added)."""
    return go.Figure(dict(data=traces, layout={k: v for k, v in layout.items() if v is not None}), _validate=False)


def _layout(fig: go.Figure, height: int, title: str = "", equal_axes: bool = True) -> go.Figure:
    fig.update_layout(**{k: v for k, v in _layout_dict(height, title, equal_axes).items()
                         if k not in ("xaxis", "yaxis", "annotations")})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, **({"scaleanchor": "x"} if equal_axes else {}))
    return fig


def map_figure(data: dict, placed: dict | None = None, selected_cluster: int | None = None,
               height: int = 620, find: str = "", focus: dict | None = None) -> go.Figure:
    """One trace per cluster (WebGL from WEBGL_POINTS points, else SVG), noise first and under; customdata carries
    [id, title, kind, thumbnail url]. The legend names the LEGEND_CLUSTERS largest clusters and one "other clusters"
    entry; cluster labels are SVG annotations, largest cluster first, that the page hides where they would overlap
    (MAP_CLICK_HEAD_JS), so zooming in shows more. find: points whose title or id contains it are ringed. focus:
    {"id", "neighbours": [ids]} rings a point's neighbours and draws lines to them. Built from plain dicts without
    plotly's validation: validating (add_annotation re-checks every label each time) took 0.3-0.9 s for 650 points
    and 3-5 s for the rooms map."""
    p = data["points"]
    n = len(p["x"])
    kind = "scattergl" if n >= WEBGL_POINTS else "scatter"
    thumbs = p.get("thumb") or [None] * n
    terms = {c["cluster"]: ", ".join(c["terms"]) for c in data["clusters"]}
    by_size = [c["cluster"] for c in sorted(data["clusters"], key=lambda c: (-c["size"], c["cluster"]))]
    in_legend = set(by_size[:LEGEND_CLUSTERS])
    by_cluster: dict[int, list[int]] = {}
    for i, c in enumerate(p["cluster"]):
        by_cluster.setdefault(int(c), []).append(i)
    traces: list[dict] = []
    if n >= DENSITY_POINTS:
        traces.append(dict(type="histogram2dcontour", x=p["x"], y=p["y"], ncontours=8, showscale=False,
                           hoverinfo="skip", colorscale=[[0, "rgba(255,255,255,0)"], [1, "rgba(100,116,139,0.35)"]],
                           contours=dict(coloring="fill", showlines=False), name="density", showlegend=False))
    other_shown = False
    n_other = len([x for x in by_cluster if x >= 0]) - len(in_legend)
    for c in sorted(by_cluster):
        idx = by_cluster[c]
        dim = selected_cluster is not None and c != selected_cluster
        name = "noise" if c < 0 else f"{c}: {terms.get(c, '')}"
        legend = dict(name="noise" if c < 0 else f"{c}: {', '.join(terms.get(c, '').split(', ')[:2])}")
        if c >= 0 and c not in in_legend:   # one legend entry toggles every smaller cluster
            legend = dict(legendgroup="other", name=f"{n_other} other clusters", showlegend=not other_shown)
            other_shown = True
        traces.append(dict(
            type=kind, x=[p["x"][i] for i in idx], y=[p["y"][i] for i in idx], mode="markers",
            marker=dict(size=4 if c < 0 else 7, color=colour(c), opacity=0.15 if dim else (0.45 if c < 0 else 0.85),
                        line=dict(width=0)),
            customdata=[[p["id"][i], p["title"][i], p["kind"][i], thumbs[i]] for i in idx],
            # the cluster's name once per trace, not once per point in customdata
            hovertemplate=f"<b>%{{customdata[1]}}</b><br>%{{customdata[2]}} · cluster {_literal(name)}<extra></extra>",
            **legend))
    added = [i for i, a in enumerate(p.get("added") or []) if a]
    if added:   # on top of their cluster's colour: a dark ring says "placed by neighbours, not by UMAP"
        traces.append(_ring(p, added, f"added since the build ({len(added)}), placed by neighbours", "diamond-open",
                            "#111827", 14, kind=kind))
    needle = (find or "").strip().lower()
    if needle:
        found = [i for i in range(n) if needle in p["title"][i].lower() or needle in p["id"][i].lower()]
        traces.append(_ring(p, found, f"“{find.strip()[:30]}”: {len(found)} found", "circle-open", "#dc2626", 15,
                            kind=kind))
    if focus and focus.get("id") in p["id"]:
        rows = {pid: i for i, pid in enumerate(p["id"])}
        a = rows[focus["id"]]
        near = [rows[x] for x in focus.get("neighbours", []) if x in rows]
        xs, ys = [], []
        for j in near:
            xs += [p["x"][a], p["x"][j], None]
            ys += [p["y"][a], p["y"][j], None]
        traces.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(width=1, color="#0f172a"),
                           hoverinfo="skip", name="nearest neighbours (in the ranker's space)", legendgroup="focus"))
        traces.append(_ring(p, near, "neighbours", "circle-open", "#0f172a", 13, legend=False, kind=kind))
        traces.append(_ring(p, [a], "picked", "star", "#0f172a", 16, legend=False, kind=kind))
    info = {x["cluster"]: x for x in data["clusters"]}
    annotations = [dict(x=info[c]["x"], y=info[c]["y"], text=f"{c}: {', '.join(info[c]['terms'][:2])}",
                        showarrow=False, font=dict(size=10, color="#111827"), bgcolor="rgba(255,255,255,0.75)",
                        borderpad=2)
                   for c in by_size   # largest first: the page keeps the first of two overlapping labels
                   if selected_cluster is None or c == selected_cluster]
    if placed and placed.get("hits"):
        hits = sorted(placed["hits"], key=lambda h: h.get("rank") or 99)
        # SVG, not WebGL: the page hides a number that would overlap a better-ranked one
        traces.append(dict(
            type="scatter", x=[h["x"] for h in hits], y=[h["y"] for h in hits], mode="markers+text",
            name="search hits",
            text=[f"#{h['rank']}" if (h.get("rank") or 99) <= LABELLED_HITS else "" for h in hits],
            textposition="top center", textfont=dict(size=10),
            marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#111827")),
            customdata=[[h["id"], h["id"], ""] for h in hits],
            hovertemplate="hit %{text}: %{customdata[0]}<extra></extra>"))
    if placed and placed.get("query"):
        q = placed["query"]
        traces.append(dict(type=kind, x=[q["x"]], y=[q["y"]], mode="markers", name="your query",
                           marker=dict(size=18, symbol="star", color="#dc2626", line=dict(width=1, color="white")),
                           hovertemplate="your query (placed among its hits)<extra></extra>"))
    return _figure(traces, _layout_dict(height, equal_axes=False, annotations=annotations))


def _literal(text: str) -> str:
    """Text shown as is inside a plotly hovertemplate (no %{...} substitution, no HTML)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("%{", "%&#123;"))


def _ring(p: dict, idx: list[int], name: str, symbol: str, colour_: str, size: int, legend: bool = True,
          kind: str = "scattergl") -> dict:
    """Markers drawn over some points (added, found, neighbours) that still open the point when clicked."""
    thumbs = p.get("thumb") or [None] * len(p["x"])
    return dict(type=kind, x=[p["x"][i] for i in idx], y=[p["y"][i] for i in idx], mode="markers", name=name,
                showlegend=legend,
                marker=dict(size=size, symbol=symbol, color=colour_, line=dict(width=2, color=colour_)),
                customdata=[[p["id"][i], p["title"][i], p["kind"][i], thumbs[i]] for i in idx],
                hovertemplate="<b>%{customdata[1]}</b><extra></extra>")


def liked_figure(rec: dict, background: dict | None = None, height: int = 320) -> go.Figure:
    """The liked items on the collection map, coloured by the clusters HDBSCAN found among them; seeds ringed."""
    fig = go.Figure()
    n = len(background["points"]["x"]) if background else 0
    trace = go.Scattergl if n >= WEBGL_POINTS else go.Scatter   # SVG for a small collection, as map_figure
    if background:
        b = background["points"]
        fig.add_trace(trace(x=b["x"], y=b["y"], mode="markers", name="collection", hoverinfo="skip",
                            marker=dict(size=3, color="#e5e7eb")))
    lm = rec.get("liked_map")
    if lm:
        titles = {x["id"]: x["title"] for x in rec.get("liked", [])}
        for c in sorted(set(lm["cluster"])):
            idx = [i for i, v in enumerate(lm["cluster"]) if v == c]
            fig.add_trace(trace(
                x=[lm["x"][i] for i in idx], y=[lm["y"][i] for i in idx], mode="markers",
                name="liked, in no cluster" if c < 0 else f"liked, cluster {c}",
                marker=dict(size=11, color=colour(c), line=dict(width=1.5, color="#111827")),   # grey liked stands out
                customdata=[[titles.get(lm["id"][i], lm["id"][i])] for i in idx],
                hovertemplate="%{customdata[0]}<extra></extra>"))
    return _layout(fig, height, "Your liked items and the clusters found among them")
