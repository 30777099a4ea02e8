"""`python -m backend bench-map`: how fast the Explore map renders in headless Chromium (synthetic sizes + the app)."""
from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from backend.ops.bench import _machine
from backend.paths import REPO

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1440, "height": 1300}
TIMEOUT_MS = 240_000
FULL = {"sizes": (650, 10_000, 50_000), "repeats": 3, "app": True, "app_repeats": 5}   # app: 5, the load varies
QUICK = {"sizes": (650, 10_000), "repeats": 1, "app": False}
N_CLUSTERS, NOISE_SHARE, SEED = 30, 0.15, 0
WORDS = ("storm", "sea", "forest", "neon", "city", "portrait", "sunset", "flower", "mountain", "dungeon", "torch",
         "abstract", "geometry", "racing", "castle", "desert", "river", "night", "gold", "ice")

# Installed before any page script: the moment plotly's Events.init gives a graph div its `on` (before it can emit),
# subscribe to plotly_afterplot and log performance.now() (ms since navigation start) and the frame after it.
# A capture-phase click listener logs when the Explore tab was clicked.
HOOK_JS = """
(() => {
  const mv = window.__mv = {init: [], afterplot: [], frame: [], click: null};
  Object.defineProperty(HTMLElement.prototype, 'on', {
    configurable: true,
    get() { return undefined; },
    set(f) {
      Object.defineProperty(this, 'on', {value: f, writable: true, configurable: true, enumerable: true});
      if (!this._ev || typeof f !== 'function') return;
      mv.init.push(performance.now());
      const el = this;
      f('plotly_afterplot', () => {
        const t = performance.now();
        const inMap = !!(el.closest && el.closest('#mv-map'));
        mv.afterplot.push({t, inMap});
        requestAnimationFrame(() => mv.frame.push({t: performance.now(), inMap}));
      });
    },
  });
  document.addEventListener('click', (ev) => {
    const tab = ev.target && ev.target.closest && ev.target.closest('[role=tab]');
    if (tab && /Explore/.test(tab.textContent || '')) mv.click = performance.now();
  }, true);
})();
"""

NAV_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0] || {};
  const gd = document.querySelector('.js-plotly-plot');
  return {first_afterplot_ms: window.__mv.afterplot[0].t, plot_start_ms: window.__mv.init[0],
          plot_ms: window.__mv.afterplot[0].t - window.__mv.init[0],
          dom_content_loaded_ms: nav.domContentLoadedEventEnd || null, load_event_ms: nav.loadEventEnd || null,
          traces: gd && gd._fullData ? gd._fullData.length : 0,
          webgl_canvases: gd ? gd.querySelectorAll('canvas').length : 0};
}"""

FRAME_JS = "() => window.__mv.frame.length ? window.__mv.frame[0].t : false"

RELAYOUT_JS = """async (r) => {
  const gd = document.querySelector('.js-plotly-plot');
  const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
  await frame();
  const t0 = performance.now();
  await Plotly.relayout(gd, {'xaxis.range': r.x, 'yaxis.range': r.y});
  const t1 = performance.now();
  await frame();
  return {relayout_ms: t1 - t0, relayout_frame_ms: performance.now() - t0};
}"""

HOVER_JS = """async (p) => {
  const gd = document.querySelector('.js-plotly-plot');
  const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
  await frame();
  let ev = null;
  gd.once('plotly_hover', (d) => { ev = d; });
  const t0 = performance.now();
  Plotly.Fx.hover(gd, {xval: p.x, yval: p.y, target: gd}, 'xy');  // target: so plotly_hover is emitted
  const t1 = performance.now();
  await frame();
  return {hover_ms: t1 - t0, hover_frame_ms: performance.now() - t0, hover_points: ev ? ev.points.length : 0,
          hover_label: !!gd.querySelector('.hoverlayer .hovertext')};
}"""

# The Explore plot counts as shown once a plotly graph inside #mv-map emitted afterplot after the tab click, is
# visible (non-zero box, not display:none) and holds its WebGL canvas or an SVG trace; returns that frame's time.
APP_RENDERED_JS = """() => {
  const mv = window.__mv;
  if (mv.click === null) return false;
  const gd = document.querySelector('#mv-map .js-plotly-plot');
  if (!gd || !mv.afterplot.some((a) => a.inMap && a.t >= mv.click)) return false;
  const box = gd.getBoundingClientRect();
  if (box.width === 0 || box.height === 0 || getComputedStyle(gd).visibility === 'hidden') return false;
  if (!gd.querySelector('canvas.gl-canvas, .gl-container canvas, .scatterlayer .trace')) return false;
  return performance.now();
}"""


def synthetic_map(n: int, seed: int = SEED) -> dict:
    """A map_json()-shaped dict of n points: N_CLUSTERS gaussian blobs plus NOISE_SHARE uniform noise (cluster -1)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(N_CLUSTERS, 2))                    # (C, 2)
    spread = rng.uniform(0.3, 0.9, size=N_CLUSTERS)                          # (C,)
    n_noise = int(round(NOISE_SHARE * n))
    labels = np.concatenate([rng.integers(0, N_CLUSTERS, size=n - n_noise), np.full(n_noise, -1)])   # (n,)
    xy = np.empty((n, 2))
    inner = labels >= 0
    xy[inner] = centres[labels[inner]] + rng.normal(size=(inner.sum(), 2)) * spread[labels[inner], None]
    xy[~inner] = rng.uniform(-12, 12, size=(n_noise, 2))
    order = rng.permutation(n)
    labels, xy = labels[order], xy[order]
    ids = [f"mv{i:06d}" for i in range(n)]
    kinds = ["museum" if i % 3 else "game" for i in range(n)]
    clusters = []
    for c in range(N_CLUSTERS):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        terms = [WORDS[(c + j * 7) % len(WORDS)] for j in range(3)]
        medoid = members[np.argmin(((xy[members] - xy[members].mean(0)) ** 2).sum(1))]
        clusters.append({"cluster": c, "size": int(len(members)), "terms": terms, "medoid": ids[medoid],
                         "x": float(xy[members, 0].mean()), "y": float(xy[members, 1].mean())})
    clusters.sort(key=lambda c: -c["size"])
    return {"ranker": "synthetic", "level": "metaverse", "kind": "all",
            "points": {"x": [round(float(v), 4) for v in xy[:, 0]], "y": [round(float(v), 4) for v in xy[:, 1]],
                       "cluster": [int(c) for c in labels], "id": ids,
                       "title": [f"Synthetic world {i} ({WORDS[i % len(WORDS)]})" for i in range(n)],
                       "kind": kinds, "thumb": [f"/thumbs/{i}.png" for i in ids]},
            "clusters": clusters, "noise": int(n_noise), "params": {"n_neighbors": None, "seed": seed},
            "agreement": None}


def _targets(data: dict) -> tuple[dict, dict]:
    """Zoom window (a quarter of the extent around the largest cluster) and the hover point (its member nearest)."""
    x, y = np.asarray(data["points"]["x"]), np.asarray(data["points"]["y"])
    big = data["clusters"][0]
    qx, qy = (x.max() - x.min()) / 8, (y.max() - y.min()) / 8
    zoom = {"x": [big["x"] - qx, big["x"] + qx], "y": [big["y"] - qy, big["y"] + qy]}
    i = int(np.argmin((x - big["x"]) ** 2 + (y - big["y"]) ** 2))
    return zoom, {"x": float(x[i]), "y": float(y[i])}


def _median(runs: list[dict], key: str) -> Optional[float]:
    vals = [r[key] for r in runs if r.get(key) is not None]
    return round(float(statistics.median(vals)), 1) if vals else None


def _launch(pw):
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def _one_load(browser, url: str, zoom: dict, hover: dict) -> dict:
    """Open the standalone figure in a fresh context: first afterplot, its next frame, a zoom, a hover."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.add_init_script(HOOK_JS)
        page.goto(url, wait_until="load")
        page.wait_for_function("() => window.__mv && window.__mv.afterplot.length > 0")
        run = page.evaluate(NAV_JS)
        run["first_frame_ms"] = page.wait_for_function(FRAME_JS).json_value()
        run.update(page.evaluate(RELAYOUT_JS, zoom))
        run.update(page.evaluate(HOVER_JS, hover))
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in run.items()}
    finally:
        context.close()


def bench_size(browser, n: int, repeats: int, workdir: Path, warm_up: bool = False) -> dict:
    """Build the figure with ui.components.maps.map_figure, write standalone HTML, load it `repeats` times
    (after one discarded load when warm_up: the browser's first WebGL page pays its GPU-process start)."""
    from ui.components.maps import map_figure
    t = time.perf_counter()
    data = synthetic_map(n)
    fig = map_figure(data)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    path = workdir / f"map-{n}.html"
    path.write_text(html, encoding="utf-8")
    html_s = time.perf_counter() - t
    zoom, hover = _targets(data)
    if warm_up:
        _one_load(browser, path.as_uri(), zoom, hover)
    runs = []
    for r in range(repeats):
        runs.append(_one_load(browser, path.as_uri(), zoom, hover))
        log.info("map %d points, run %d/%d: first afterplot %.0f ms, relayout %.0f ms, hover %.1f ms", n, r + 1,
                 repeats, runs[-1]["first_afterplot_ms"], runs[-1]["relayout_ms"], runs[-1]["hover_ms"])
    keys = ("first_afterplot_ms", "plot_start_ms", "plot_ms", "first_frame_ms", "dom_content_loaded_ms",
            "load_event_ms", "relayout_ms", "relayout_frame_ms", "hover_ms", "hover_frame_ms")
    return {"points": n, "clusters": len(data["clusters"]), "noise": data["noise"], "traces": runs[0]["traces"],
            "html_bytes": path.stat().st_size, "html_mb": round(path.stat().st_size / 2**20, 2),
            "figure_build_s": round(build_s, 3), "to_html_s": round(html_s, 3), "repeats": repeats,
            **{k: _median(runs, k) for k in keys},
            "hover_label_shown": all(r["hover_label"] for r in runs),
            "hover_event_fired": all(r["hover_points"] > 0 for r in runs), "runs": runs}


def bench_app(browser, bundle: Path, repeats: int, log_path: Optional[Path] = None) -> dict:
    """The running app: click the Explore tab and time until its plot has rendered; the app's URL opened afresh for
    each run."""
    from backend.ops.app_process import running_app
    runs = []
    with running_app(bundle, log_path=log_path) as app:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.add_init_script(HOOK_JS)
            for r in range(repeats):
                # the app's own URL each time, not reload(): a tab click writes ?tab=explore into the address, and a
                # reload would then open on Explore and draw the map before the click being timed
                page.goto(app.url)
                page.wait_for_selector("#mv-query textarea")
                t = time.perf_counter()
                page.get_by_role("tab", name="Explore").click()
                done = page.wait_for_function(APP_RENDERED_JS, polling="raf").json_value()
                wall_ms = (time.perf_counter() - t) * 1000
                info = page.evaluate("""() => { const gd = document.querySelector('#mv-map .js-plotly-plot');
                    const mv = window.__mv;
                    const a = mv.afterplot.find((x) => x.inMap && x.t >= mv.click);
                    const init = mv.init.find((t) => t >= mv.click);
                    return {click: mv.click, afterplot: a.t, init: init === undefined ? null : init,
                      preloaded: window.__mvPlotlyReady === undefined ? null : window.__mvPlotlyReady,
                      points: (gd._fullData || []).reduce((s, t) => s + ((t.x && t.x.length) || 0), 0),
                      traces: (gd._fullData || []).length}; }""")
                runs.append({"explore_render_ms": round(done - info["click"], 1),
                             "click_to_afterplot_ms": round(info["afterplot"] - info["click"], 1),
                             # click -> Plotly starts on the graph div: the draw call's round trip, the tab's mount
                             # and (unless preloaded) the plotly.js chunk; the rest is plotly drawing the map
                             "click_to_plot_start_ms": None if info["init"] is None
                             else round(info["init"] - info["click"], 1),
                             "plotly_preloaded_before_click": info["preloaded"] is not None
                             and info["preloaded"] <= info["click"],
                             "wall_ms": round(wall_ms, 1), "points": info["points"], "traces": info["traces"]})
                log.info("app run %d/%d: Explore tab shown in %.0f ms (afterplot %.0f ms)", r + 1, repeats,
                         runs[-1]["explore_render_ms"], runs[-1]["click_to_afterplot_ms"])
        finally:
            context.close()
    return {"url_started_s": app.started_s, "bundle": str(bundle), "repeats": repeats,
            "explore_render_ms": _median(runs, "explore_render_ms"),
            "click_to_afterplot_ms": _median(runs, "click_to_afterplot_ms"),
            "click_to_plot_start_ms": _median(runs, "click_to_plot_start_ms"), "wall_ms": _median(runs, "wall_ms"),
            "runs": runs,
            "note": "explore_render_ms: from the tab's click event to the first animation frame where the plot in "
                    "#mv-map is visible, has emitted plotly_afterplot since the click and holds its WebGL canvas; "
                    "includes the server's draw call and gradio's plot rendering; each run opens the app's URL "
                    "afresh (same browser context, so its cache is warm after the first); wall_ms is the "
                    "Python-side time of click() + the wait; click_to_plot_start_ms: until Plotly starts on the "
                    "graph div; plotly_preloaded_before_click: the page's idle import of plotly.js had finished"}


def chromium_version() -> str:
    try:
        r = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() or r.stderr.strip().splitlines()[-1]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return f"unknown ({exc})"


def run_map_render_bench(out_dir: Path = Path("docs"), quick: bool = False,
                         bundle: Optional[Path] = None) -> dict:
    """Synthetic map sizes in headless Chromium (+ the app's Explore tab unless quick); writes map-render-bench.json."""
    from playwright.sync_api import sync_playwright
    cfg = QUICK if quick else FULL
    bundle = Path(bundle) if bundle else REPO / "precomputed"
    t0 = time.perf_counter()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": quick,
              "machine": _machine(), "load_avg_start": _load(), "chromium": chromium_version(), "chromium_args": CHROMIUM_ARGS,
              "viewport": VIEWPORT, "params": {"sizes": list(cfg["sizes"]), "repeats": cfg["repeats"],
                                               "clusters": N_CLUSTERS, "noise_share": NOISE_SHARE, "seed": SEED}}
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="mv-map-bench-") as tmp:
        browser = _launch(pw)
        try:
            report["browser_version"] = browser.version
            report["webgl_renderer"] = _webgl_renderer(browser)
            report["sizes"] = [bench_size(browser, n, cfg["repeats"], Path(tmp), warm_up=i == 0)
                               for i, n in enumerate(cfg["sizes"])]
            if cfg["app"]:
                report["app"] = bench_app(browser, bundle, cfg.get("app_repeats", cfg["repeats"]),
                                          log_path=Path(tmp) / "app.log")
            else:
                report["app"] = {"skipped": "quick mode"}
        finally:
            browser.close()
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["load_avg_end"] = _load()
    report["notes"] = (
        "times in ms from performance.now() in the page (navigation start = 0); medians of `repeats` loads, each in "
        "a fresh browser context of one browser (one discarded warm-up load first). first_afterplot_ms: navigation "
        "start to the first plotly_afterplot (subscribed as soon as plotly initialises the graph div); "
        "first_frame_ms: the animation frame after it; plot_start_ms: when Plotly.newPlot initialised the graph div "
        "(plotly.js parsed and run); plot_ms: from there to the first afterplot (the figure's own render). "
        "relayout_ms: awaited Plotly.relayout to a zoom window of a quarter of the extent; hover_ms: a synchronous "
        "Plotly.Fx.hover on a point (hovermode closest); *_frame_ms add the next animation frame. Figures from "
        "ui.components.maps.map_figure (a trace per cluster: SVG under 1,500 points, Scattergl from there), plotly.js "
        "inline; WebGL is software (SwiftShader) under --disable-gpu, so GPU machines will be faster")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "map-render-bench.json").write_text(json.dumps(report, indent=2))
    log.info("map render bench done in %.0f s -> %s", report["seconds"], out_dir / "map-render-bench.json")
    return report


def _load() -> Optional[list[float]]:
    """The 1/5/15-minute load averages (`uptime`): this 2-core machine is shared, so timings need them beside."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _webgl_renderer(browser) -> Optional[str]:
    page = browser.new_page()
    try:
        page.set_content("<canvas id=c></canvas>")
        return page.evaluate("""() => { const g = document.getElementById('c').getContext('webgl'); if (!g) return null;
            const d = g.getExtension('WEBGL_debug_renderer_info');
            return g.getParameter(d ? d.UNMASKED_RENDERER_WEBGL : g.RENDERER); }""")
    finally:
        page.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(json.dumps(run_map_render_bench(), indent=2))
