"""`python -m backend bench-recommend`: ILD and on-topic rate against k and d (D3.2 §4.4.2), one clear interest,
latency, map times."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from backend.ops.bench import _machine, _pct
from backend.recommend.seeds import intra_list_diversity

log = logging.getLogger(__name__)

N_LIKED = (20, 200)                       # the paper's two cases: too few to cluster, and a clustering scenario
KS = (5, 10, 20, 30, 50)
DS = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))   # 0.05 .. 0.95
D_DEFAULT, K_FOR_D = 0.2, 20
LATENCY_N_LIKED = 50
MODES = ("paper", "per-cluster", "random")  # "random": k random non-liked items, the floor
FULL = {"draws": 20, "ks": KS, "ds": DS, "latency_requests": 100}
QUICK = {"draws": 2, "ks": (5, 20), "ds": (0.05, 0.45, 0.95), "latency_requests": 10}
ON_THEME_SHARE = 0.8
POOL_FACTOR = 2    # the picked themes hold at least twice the on-theme likes, so half of them are left to recommend
LIKED_RULE = (f"a simulated person likes items around 1-3 interests: draw r uses numpy default_rng([r, n]), picks "
              f"1-3 distinct themes (uniform count), adds random themes while they hold fewer than {POOL_FACTOR} x "
              f"round({ON_THEME_SHARE} n) items (so the likes do not exhaust them; in a 650-item collection 200 "
              f"likes need ~4-5 themes), takes round({ON_THEME_SHARE} n) liked items at random from them and fills the "
              f"rest from the other items at random; the same draws serve every ranker, mode, k and d")
TOPIC_SHARE = 0.15  # a theme is a cluster's topic if it holds >= 15 % of its members (recovers ~90 % of interests)
ON_TOPIC_RULE = (f"on_topic: share of recommended items whose theme holds >= {TOPIC_SHARE:.0%} of the members of a "
                 f"non-noise liked cluster (of all liked items when they form no cluster); on the draws here that "
                 f"theme set matches the draw's own interests with precision and recall ~0.9. on_topic_any: the loose "
                 f"rule, any theme of a liked item in a non-noise cluster (of any liked item when none cluster); with "
                 f"200 liked items it covers nearly every theme, so even random lists score ~1. on_interest: the "
                 f"themes the draw picked. The random-list floor uses the theme sets of mode paper for the same draw")


def draw_liked(themes: list[str], n: int, draw: int) -> tuple[list[int], set[str]]:
    """Rows of n liked items drawn by LIKED_RULE from the collection's per-item themes, and the themes picked."""
    N = len(themes)
    if not 1 <= n < N:
        raise ValueError(f"n={n} liked items is not allowed; use 1..{N - 1} for a collection of {N}")
    rng = np.random.default_rng([draw, n])
    theme = np.array(themes)                                                # (N,)
    names = rng.permutation(sorted(set(themes))).tolist()
    n_on = int(round(ON_THEME_SHARE * n))
    m = min(int(rng.integers(1, 4)), len(names))
    while m < len(names) and np.isin(theme, names[:m]).sum() < POOL_FACTOR * n_on:
        m += 1                                                              # widen until half the pool stays unliked
    chosen = set(names[:m])
    on = np.flatnonzero(np.isin(theme, names[:m]))                          # (n_pool,)
    on_pick = rng.choice(on, size=min(len(on), n_on), replace=False)
    rest = np.setdiff1d(np.arange(N), on_pick)
    rest_pick = rng.choice(rest, size=n - len(on_pick), replace=False)
    return [int(i) for i in np.concatenate([on_pick, rest_pick])], chosen


def _topic_themes(liked: list[dict]) -> tuple[set[str], set[str]]:
    """(on_topic, on_topic_any) theme sets of a response's liked items (each with "theme" and "cluster")."""
    by_cluster: dict[int, Counter] = {}
    for m in liked:
        by_cluster.setdefault(m["cluster"], Counter())[m["theme"]] += 1
    groups = [by_cluster[c] for c in by_cluster if c >= 0] or [by_cluster[-1]]
    strict = {t for g in groups for t, c in g.items() if c >= TOPIC_SHARE * sum(g.values())}
    return strict, {t for g in groups for t in g}


class _Sweep:
    """Runs and caches recommendations per (n, ranker, mode, k, d, draw) over fixed liked-item draws."""

    def __init__(self, service, n_draws: int):
        self.s = service
        col = service.collection
        self.ids = [m.id for m in col.metaverses]
        self.themes = [m.theme for m in col.metaverses]
        self.draws = {n: [draw_liked(self.themes, n, r) for r in range(n_draws)] for n in N_LIKED}
        self.cache: dict[tuple, dict] = {}

    def one(self, n: int, ranker: str, mode: str, k: int, d: float, r: int) -> dict:
        key = (n, ranker, mode, k, d, r)
        if key in self.cache:
            return self.cache[key]
        rows, interests = self.draws[n][r]
        if mode == "random":
            strict, loose = self.one(n, ranker, "paper", k, D_DEFAULT, r)["topic"]
            rng = np.random.default_rng([r, n, k, 1])
            picked = rng.choice(np.setdiff1d(np.arange(len(self.ids)), rows), size=k, replace=False)
            vecs = self.s.engine.rankers[ranker].metaverse_vecs[picked]       # (k, D)
            res = {"ild": intra_list_diversity(vecs), "branch": "random", "n_clusters": None}
            rec_themes = [self.themes[i] for i in picked]
        else:
            out = self.s.recommender.recommend(liked=[self.ids[i] for i in rows], k=k, d=d, mode=mode, seed=r,
                                               ranker=ranker)
            strict, loose = _topic_themes(out["liked"])
            res = {"ild": out["ild"], "branch": out["params"]["branch"], "n_clusters": out["params"].get("n_clusters")}
            rec_themes = [m["theme"] for m in out["results"]]
        res.update(topic=(strict, loose), on_topic=float(np.mean([t in strict for t in rec_themes])),
                   on_topic_any=float(np.mean([t in loose for t in rec_themes])),
                   on_interest=float(np.mean([t in interests for t in rec_themes])))
        self.cache[key] = res
        return res

    def row(self, n: int, ranker: str, mode: str, k: int, d: float) -> dict:
        runs = [self.one(n, ranker, mode, k, d, r) for r in range(len(self.draws[n]))]
        row = {"n_liked": n, "ranker": ranker, "mode": mode, "k": k, "d": None if mode == "random" else d,
               "draws": len(runs)}
        for name in ("ild", "on_topic", "on_topic_any", "on_interest"):
            a = np.array([x[name] for x in runs])                              # (draws,)
            row[name], row[name + "_std"] = round(float(a.mean()), 4), round(float(a.std()), 4)
        if mode != "random":
            row["branches"] = dict(Counter(x["branch"] for x in runs))
            row["n_clusters_mean"] = round(float(np.mean([x["n_clusters"] for x in runs])), 2)
        return row

    def liked_stats(self) -> dict:
        """Per n: how themed the draws really are (share of liked items on the draw's picked themes)."""
        return {str(n): {"draws": len(draws), "themes_mean": round(float(np.mean([len(c) for _, c in draws])), 2),
                         "share_on_picked_themes": round(float(np.mean(
                             [np.mean([self.themes[i] in chosen for i in rows]) for rows, chosen in draws])), 3)}
                for n, draws in self.draws.items()}


def _latency(service, n_requests: int) -> dict:
    """Wall ms of RecommendService.recommend for 50 liked items (a fresh draw per request), per ranker, warmed up."""
    themes = [m.theme for m in service.collection.metaverses]
    ids = [m.id for m in service.collection.metaverses]
    draws = [[ids[i] for i in draw_liked(themes, LATENCY_N_LIKED, 1000 + r)[0]] for r in range(n_requests)]
    by_ranker = {}
    for ranker in service.rankers():
        t = time.perf_counter()
        service.recommender.recommend(liked=draws[0], k=K_FOR_D, d=D_DEFAULT, mode="paper", seed=0, ranker=ranker)
        first_ms = (time.perf_counter() - t) * 1000
        ms, inner = [], []
        for r, liked in enumerate(draws):
            t = time.perf_counter()
            out = service.recommender.recommend(liked=liked, k=K_FOR_D, d=D_DEFAULT, mode="paper", seed=r,
                                                ranker=ranker)
            ms.append((time.perf_counter() - t) * 1000)
            inner.append(out["timings_ms"]["recommend"])
        by_ranker[ranker] = {**_pct(ms), "first_call_ms": round(first_ms, 2), "algorithm_ms": _pct(inner)}
    default = by_ranker[service.default_ranker]
    return {"n_liked": LATENCY_N_LIKED, "k": K_FOR_D, "d": D_DEFAULT, "mode": "paper", "requests": n_requests,
            "ranker": service.default_ranker, "p50": default["p50"], "p95": default["p95"], "by_ranker": by_ranker,
            "note": "ms per call of SearchService.recommender.recommend (bundle already loaded, one warm-up call "
                    "first); algorithm_ms is the recommend() step alone, without the response and liked-map"}


FIRST_CALL_TIMEOUT_S = 600


def first_recommendation(bundle: Path) -> dict:
    """The first recommendation of a fresh process (50 liked, k=20, d=0.2, default ranker), as the app serves it:
    "warmed" runs SearchService.warm_caches() first (what app.py starts in the background after loading, explore
    maps and RecommendService.warm() included), "cold" does not. Each case runs in its own child process, since the
    first call of a process is what is measured; ms per call of service.recommender.recommend."""
    out = {}
    for case in ("cold", "warmed"):
        code = (f"import json; from backend.ops.bench_recommend import _first_call_child; "
                f"print(json.dumps(_first_call_child({str(bundle)!r}, {case == 'warmed'})))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=FIRST_CALL_TIMEOUT_S,
                           cwd=str(Path(__file__).resolve().parents[2]))
        if r.returncode != 0:
            raise RuntimeError(f"first-recommendation child ({case}) failed:\n{r.stderr[-2000:]}")
        out[case] = json.loads(r.stdout.strip().splitlines()[-1])
    out["note"] = ("a fresh process per case: load the bundle (SearchService.from_bundle, which also runs one warm-up "
                   "search per ranker), then for 'warmed' SearchService.warm_caches() (the app's background warm-up, "
                   "timed in warm_s), then recommend() 50 liked items (draw 1000 of the latency draws), k=20, d=0.2, "
                   "mode paper, default ranker: first_ms, then the same call again: second_ms")
    return out


def _first_call_child(bundle: str, warmed: bool) -> dict:
    from backend.service import SearchService
    t = time.perf_counter()
    service = SearchService.from_bundle(bundle)
    load_s = time.perf_counter() - t
    warm_s = None
    if warmed:
        t = time.perf_counter()
        service.warm_caches()
        warm_s = round(time.perf_counter() - t, 2)
    themes = [m.theme for m in service.collection.metaverses]
    ids = [m.id for m in service.collection.metaverses]
    liked = [ids[i] for i in draw_liked(themes, LATENCY_N_LIKED, 1000)[0]]
    ms = []
    for _ in range(2):
        t = time.perf_counter()
        service.recommender.recommend(liked=liked, k=K_FOR_D, d=D_DEFAULT, mode="paper", seed=0)
        ms.append(round((time.perf_counter() - t) * 1000, 1))
    return {"load_s": round(load_s, 2), "warm_s": warm_s, "first_ms": ms[0], "second_ms": ms[1],
            "ranker": service.default_ranker,
            "load_avg": [round(x, 2) for x in os.getloadavg()]}   # a shared 2-core machine: the load beside it


SINGLE_THEME = {"sets": 20, "n_liked": 10, "k": 10, "d": D_DEFAULT}
SINGLE_THEME_RULE = ("one clear interest: set r (numpy default_rng([r, 10, 1])) picks one theme uniformly and 10 of its "
                     "items at random as the liked items; k=10, d=0.2, mode paper, seed r; on_theme: share of the "
                     "results of that theme")


def single_theme(service, sets: int = SINGLE_THEME["sets"]) -> dict:
    """Per ranker: which branch `sets` single-theme like-sets of 10 land in, and how on-theme their lists are."""
    themes = [m.theme for m in service.collection.metaverses]
    ids = [m.id for m in service.collection.metaverses]
    theme, names = np.array(themes), sorted(set(themes))
    n, k, d = SINGLE_THEME["n_liked"], SINGLE_THEME["k"], SINGLE_THEME["d"]
    out = {}
    for ranker in service.rankers():
        branches, on_theme, ignored_d = Counter(), [], 0
        for r in range(sets):
            rng = np.random.default_rng([r, n, 1])
            t = names[int(rng.integers(len(names)))]
            rows = rng.choice(np.flatnonzero(theme == t), size=n, replace=False)
            rec = service.recommender.recommend(liked=[ids[i] for i in rows], k=k, d=d, mode="paper", seed=r,
                                                ranker=ranker)
            branches[rec["params"]["branch"]] += 1
            on_theme.append(float(np.mean([x["theme"] == t for x in rec["results"]])))
            ignored_d += "d" in (rec.get("ignored") or {})
        out[ranker] = {"branches": dict(branches), "on_theme_mean": round(float(np.mean(on_theme)), 3),
                       "d_ignored": ignored_d}
    return {"rule": SINGLE_THEME_RULE, "sets": sets, "by_ranker": out}


def _map_build(manifest: dict) -> dict:
    """Map build times as recorded in the manifest when the maps were built (nothing is rebuilt here)."""
    maps = manifest.get("maps") or {}
    if not maps:
        return {"note": "the bundle has no maps; build them with `python -m backend build maps`"}
    seconds = {r: {lvl: m.get("seconds") for lvl, m in levels.items()} for r, levels in maps.items()}
    steps = {r: {lvl: (m.get("params") or {}).get("timings_s") for lvl, m in levels.items()}
             for r, levels in maps.items()}
    return {"seconds": seconds, "total_seconds": (manifest.get("reports") or {}).get("maps_seconds"),
            "steps_s": steps, "note": "read from the bundle manifest (maps[ranker][level].seconds, "
                                      "reports.maps_seconds); not rebuilt"}


def _plot(rows: list[dict], x: str, path: Path, title: str, rankers: list[str]) -> None:
    """Two panels (20 | 200 liked): ILD solid, on-topic dashed, one colour per ranker; random floor dotted grey."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    colours = dict(zip(rankers, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    top = max(1.0, max(r["ild"] for r in rows)) * 1.05
    for ax, n in zip(axes, N_LIKED):
        for ranker in rankers:
            sel = sorted((r for r in rows if r["n_liked"] == n and r["ranker"] == ranker and r["mode"] == "paper"),
                         key=lambda r: r[x])
            xs = [r[x] for r in sel]
            ax.plot(xs, [r["ild"] for r in sel], "-o", ms=3, color=colours[ranker], label=f"{ranker} ILD")
            ax.plot(xs, [r["on_topic"] for r in sel], "--s", ms=3, color=colours[ranker], label=f"{ranker} on-topic")
        floor = [r for r in rows if r["n_liked"] == n and r["mode"] == "random" and r["ranker"] == rankers[0]]
        if floor:
            floor = sorted(floor, key=lambda r: r["k"])
            if x == "k":
                fx, fi, fo = [r["k"] for r in floor], [r["ild"] for r in floor], [r["on_topic"] for r in floor]
            else:
                xs = [r["d"] for r in rows if r["mode"] == "paper"]
                fx, fi, fo = [min(xs), max(xs)], [floor[0]["ild"]] * 2, [floor[0]["on_topic"]] * 2
            ax.plot(fx, fi, ":", color="grey", label=f"random list ILD ({rankers[0]})")
            ax.plot(fx, fo, "-.", color="grey", label="random list on-topic")
        ax.set_title(f"{n} liked items")
        ax.set_xlabel("k (items recommended)" if x == "k" else "d (share of k from the outlier seed)")
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("ILD (mean cosine distance) / on-topic rate")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run_recommend_bench(bundle: Path, out_dir: Path, quick: bool = False) -> dict:
    """ILD and on-topic rate against k and d, recommend latency and map build times, as D3.2 §4.4.2 measures them.

    ILD against k (d=0.2) and against d (k=20), for 20 and 200 liked items, every ranker, modes "paper" and
    "per-cluster", beside a floor of k random non-liked items; means (and std) over `draws` liked-item draws.
    Liked items (LIKED_RULE): a simulated person likes items around 1-3 interests. Draw r picks 1-3 distinct
    themes (the metaverse `theme` field) with numpy default_rng([r, n]), adds random themes while they hold fewer
    than twice 80 % of n items (so half their items stay unliked and recommendable: 200 likes of 650 need ~4-5),
    takes 80 % of the n liked items at random from them and the rest at random from the other items; the same
    draws serve every ranker, mode, k and d, and the recommender's seed is r.
    On-topic (ON_TOPIC_RULE): the share of recommended items whose theme holds >= 15 % of a non-noise liked cluster
    (of all liked items when they form no cluster). Rows also carry on_topic_any (any theme of a clustered liked
    item, the loose rule, near 1 even for random lists at 200 likes) and on_interest (the draw's own themes).
    One clear interest (SINGLE_THEME_RULE): per ranker, the branch 20 (quick: 5) single-theme sets of 10 likes land
    in, their on-theme share and how many had d ignored.
    Latency: 100 (quick: 10) calls of service.recommender.recommend for 50 liked items, after the bundle is loaded.
    Writes recommend-ild-vs-k.png, recommend-ild-vs-d.png and recommend-bench.json into out_dir; returns the report.
    """
    from backend.service import SearchService
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be True or False, not {quick!r}")
    bundle, out_dir = Path(bundle), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a directory")
    cfg = QUICK if quick else FULL
    t_all = time.perf_counter()
    timings = {}
    t = time.perf_counter()
    service = SearchService.from_bundle(bundle)
    timings["load"] = round(time.perf_counter() - t, 2)
    if any(not m.theme for m in service.collection.metaverses):
        raise ValueError(f"{bundle}: every metaverse needs a theme to measure the on-topic rate; some have none")
    rankers = [service.default_ranker] + [r for r in service.rankers() if r != service.default_ranker]
    sweep = _Sweep(service, cfg["draws"])

    t = time.perf_counter()
    ild_k = [sweep.row(n, rk, mode, k, D_DEFAULT) for n in N_LIKED for rk in rankers for mode in MODES
             for k in cfg["ks"]]
    timings["ild_vs_k"] = round(time.perf_counter() - t, 2)
    log.info("ILD vs k: %d rows in %.1fs", len(ild_k), timings["ild_vs_k"])
    t = time.perf_counter()
    ild_d = [sweep.row(n, rk, mode, K_FOR_D, d) for n in N_LIKED for rk in rankers for mode in MODES[:2]
             for d in cfg["ds"]]
    ild_d += [sweep.row(n, rk, "random", K_FOR_D, D_DEFAULT) for n in N_LIKED for rk in rankers]
    timings["ild_vs_d"] = round(time.perf_counter() - t, 2)
    log.info("ILD vs d: %d rows in %.1fs", len(ild_d), timings["ild_vs_d"])

    t = time.perf_counter()
    one_interest = single_theme(service, 5 if quick else SINGLE_THEME["sets"])
    timings["single_theme"] = round(time.perf_counter() - t, 2)
    log.info("single-theme like-sets: %s", {r: v["branches"] for r, v in one_interest["by_ranker"].items()})

    t = time.perf_counter()
    latency = _latency(service, cfg["latency_requests"])
    timings["latency"] = round(time.perf_counter() - t, 2)
    log.info("latency p50 %.1f ms, p95 %.1f ms", latency["p50"], latency["p95"])
    if quick:   # two more bundle loads in child processes: too slow for the test that runs quick mode
        latency["first_recommendation"] = {"skipped": "quick mode"}
    else:
        t = time.perf_counter()
        first = latency["first_recommendation"] = first_recommendation(bundle)
        timings["first_recommendation"] = round(time.perf_counter() - t, 2)
        log.info("first recommendation of a fresh process: cold %.0f ms, after the app's warm-up %.0f ms",
                 first["cold"]["first_ms"], first["warmed"]["first_ms"])

    now = datetime.now(timezone.utc)
    machine = _machine()
    out_dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    plots = {"ild_vs_k": str(out_dir / "recommend-ild-vs-k.png"), "ild_vs_d": str(out_dir / "recommend-ild-vs-d.png")}
    stamp = f"\n{now:%Y-%m-%d} · {machine['cores']} cores · {machine['cpu']} · {cfg['draws']} draws of liked items"
    _plot(ild_k, "k", Path(plots["ild_vs_k"]), f"Recommendation ILD and on-topic rate against k (d={D_DEFAULT}, "
          f"mode paper){stamp}", rankers)
    _plot(ild_d, "d", Path(plots["ild_vs_d"]), f"Recommendation ILD and on-topic rate against d (k={K_FOR_D}, "
          f"mode paper){stamp}", rankers)
    timings["plots"] = round(time.perf_counter() - t, 2)
    timings["total"] = round(time.perf_counter() - t_all, 2)

    report = {"date": now.isoformat(timespec="seconds"), "machine": machine, "bundle": str(bundle), "quick": quick,
              "params": {"draws": cfg["draws"], "ks": list(cfg["ks"]), "ds": list(cfg["ds"]), "d_for_k": D_DEFAULT,
                         "k_for_d": K_FOR_D, "n_liked": list(N_LIKED), "rankers": rankers, "modes": list(MODES),
                         "liked_rule": LIKED_RULE, "on_topic_rule": ON_TOPIC_RULE,
                         "ild": "mean pairwise cosine distance (1 - cos) in the ranker's metaverse space, 0..2 (the "
                                "report uses Euclidean distance; on unit vectors that is sqrt(2 (1 - cos)))",
                         "liked_draws": sweep.liked_stats()},
              "ild_vs_k": ild_k, "ild_vs_d": ild_d, "single_theme": one_interest, "latency": latency,
              "map_build": _map_build(service.bundle.manifest), "plots": plots, "timings_s": timings}
    (out_dir / "recommend-bench.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
