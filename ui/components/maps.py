"""Map JSON -> plotly figures (WebGL scatter): clusters coloured, noise grey and small, cluster labels on the map,
the current query and its hits on top; the liked items' little map for the Recommend tab."""
from __future__ import annotations

import plotly.graph_objects as go

PALETTE = ("#4f46e5", "#0d9488", "#b45309", "#be185d", "#2563eb", "#15803d", "#9333ea", "#c2410c", "#0369a1",
           "#a16207", "#4d7c0f", "#7c3aed", "#db2777", "#0f766e", "#1d4ed8", "#b91c1c")
NOISE = "#9ca3af"
LABELLED_HITS = 10   # hits beyond this rank are ringed but not numbered (k = 50 would bury the map in labels)


def colour(cluster: int) -> str:
    return NOISE if cluster < 0 else PALETTE[cluster % len(PALETTE)]


def _layout(fig: go.Figure, height: int, title: str = "") -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=36 if title else 10, b=10), title=title or None,
                      plot_bgcolor="white", paper_bgcolor="white", dragmode="pan", hovermode="closest",
                      legend=dict(orientation="h", y=-0.02, yanchor="top", font=dict(size=11)),
                      font=dict(family="system-ui, sans-serif", size=12, color="#1f2937"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


def map_figure(data: dict, placed: dict | None = None, selected_cluster: int | None = None,
               height: int = 620) -> go.Figure:
    """One WebGL trace per cluster (legend toggles them), noise first and under; customdata carries the point id."""
    p = data["points"]
    terms = {c["cluster"]: ", ".join(c["terms"]) for c in data["clusters"]}
    by_cluster: dict[int, list[int]] = {}
    for i, c in enumerate(p["cluster"]):
        by_cluster.setdefault(int(c), []).append(i)
    fig = go.Figure()
    for c in sorted(by_cluster):
        idx = by_cluster[c]
        dim = selected_cluster is not None and c != selected_cluster
        name = "noise" if c < 0 else f"{c}: {terms.get(c, '')}"
        fig.add_trace(go.Scattergl(
            x=[p["x"][i] for i in idx], y=[p["y"][i] for i in idx], mode="markers", name=name,
            marker=dict(size=4 if c < 0 else 7, color=colour(c), opacity=0.15 if dim else (0.45 if c < 0 else 0.85),
                        line=dict(width=0)),
            customdata=[[p["id"][i], p["title"][i], p["kind"][i], name, (p.get("thumb") or [None] * len(p["x"]))[i]]
                        for i in idx],
            hovertemplate="<b>%{customdata[1]}</b><br>%{customdata[2]} · cluster %{customdata[3]}<extra></extra>"))
    added = [i for i, a in enumerate(p.get("added") or []) if a]
    if added:   # on top of their cluster's colour: a dark ring says "placed by neighbours, not by UMAP"
        fig.add_trace(go.Scattergl(
            x=[p["x"][i] for i in added], y=[p["y"][i] for i in added], mode="markers",
            name=f"added since the build ({len(added)}), placed by neighbours",
            marker=dict(size=14, symbol="diamond-open", color="#111827", line=dict(width=2, color="#111827")),
            customdata=[[p["id"][i], p["title"][i], p["kind"][i], "added", (p.get("thumb") or [None] * len(p["x"]))[i]]
                        for i in added],
            hovertemplate="<b>%{customdata[1]}</b><extra></extra>"))
    for c in data["clusters"]:
        if selected_cluster is None or c["cluster"] == selected_cluster:
            fig.add_annotation(x=c["x"], y=c["y"], text=f"{c['cluster']}: {', '.join(c['terms'][:2])}",
                               showarrow=False, font=dict(size=10, color="#111827"),
                               bgcolor="rgba(255,255,255,0.75)", borderpad=2)
    if placed and placed.get("hits"):
        hits = placed["hits"]
        fig.add_trace(go.Scattergl(
            x=[h["x"] for h in hits], y=[h["y"] for h in hits], mode="markers+text", name="search hits",
            text=[f"#{h['rank']}" if (h.get("rank") or 99) <= LABELLED_HITS else "" for h in hits],
            textposition="top center", textfont=dict(size=10),
            marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#111827")),
            customdata=[[h["id"], h["id"], "", "hit"] for h in hits],
            hovertemplate="hit %{text}: %{customdata[0]}<extra></extra>"))
    if placed and placed.get("query"):
        q = placed["query"]
        fig.add_trace(go.Scattergl(x=[q["x"]], y=[q["y"]], mode="markers", name="your query",
                                   marker=dict(size=18, symbol="star", color="#dc2626", line=dict(width=1, color="white")),
                                   hovertemplate="your query (placed among its hits)<extra></extra>"))
    return _layout(fig, height)


def liked_figure(rec: dict, background: dict | None = None, height: int = 320) -> go.Figure:
    """The liked items on the collection map, coloured by the clusters HDBSCAN found among them; seeds ringed."""
    fig = go.Figure()
    if background:
        b = background["points"]
        fig.add_trace(go.Scattergl(x=b["x"], y=b["y"], mode="markers", name="collection", hoverinfo="skip",
                                   marker=dict(size=3, color="#e5e7eb")))
    lm = rec.get("liked_map")
    if lm:
        titles = {x["id"]: x["title"] for x in rec.get("liked", [])}
        for c in sorted(set(lm["cluster"])):
            idx = [i for i, v in enumerate(lm["cluster"]) if v == c]
            fig.add_trace(go.Scattergl(
                x=[lm["x"][i] for i in idx], y=[lm["y"][i] for i in idx], mode="markers",
                name="liked, in no cluster" if c < 0 else f"liked, cluster {c}",
                marker=dict(size=10, color=colour(c)), customdata=[[titles.get(lm["id"][i], lm["id"][i])] for i in idx],
                hovertemplate="%{customdata[0]}<extra></extra>"))
    return _layout(fig, height, "Your liked items and the clusters found among them")
