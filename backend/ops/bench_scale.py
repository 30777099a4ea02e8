"""`python -m backend bench-scale`: the served ranking on synthetic collections of 10^4..10^6 metaverses.

Per size, in a fresh interpreter (so peak RSS is that size's): generate the collection around the demo world's HiCALM
vectors (backend/data/synthetic_scale.py), build the metaverse-level and room-level indexes (backend/search/index.py
chooses exact or IVF-PQ by size), then serve held-out queries with the engine's own search step (find_and_score
from backend/search/engine.py: top lists, exact scores, lists lengthened by the threshold rule) and compare the
served top-10 with a brute-force ranking of the same served score over every metaverse.

Two query levels: "metaverse" (room weight 0: the metaverse index decides, as for a more-like-this query) and "room"
(text-query-like, 1-3 parts at HiCALM's short-query room weight: every part's room top list plus the metaverse top
list, rescored exactly). Two filters: "all" and one kind.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.kinds import ALL, KINDS
from backend.device import limited_library_threads
from backend.ops.bench import _machine, _pct, proc_status_mb
from backend.paths import REPO

K = 10
LEVELS = ("metaverse", "room")
GOALS = {"recall_at_10": 0.95, "p50_ms": 50.0, "peak_rss_gb": 12.0}


def _room_weight(level: str) -> float:
    from backend.search.rankers.hicalm import HicalmRanker
    return 0.0 if level == "metaverse" else HicalmRanker.SHORT_QUERY_ROOM_WEIGHT


def query_vecs(queries, q: int, level: str):
    """Query q of a ScaleQueries as the engine's QueryVecs at one level."""
    from backend.encoders.base import l2_normalise
    from backend.search.rankers.base import QueryVecs
    parts = queries.query_parts(q)
    return QueryVecs(metaverse=queries.metaverse[q], room=l2_normalise(parts.mean(0)), room_parts=parts,
                     room_weight=_room_weight(level))


def _keep_top(best: tuple[np.ndarray, np.ndarray], s: np.ndarray, ids: np.ndarray, k: int):
    """Running top-k per column: best = (scores (C, m), rows (C, m)) merged with s (n, C) whose rows are ids (n,)."""
    kk = min(k, len(s))
    top = np.argpartition(-s, kk - 1, axis=0)[:kk]                                       # (kk, C)
    cs = np.concatenate([best[0], np.take_along_axis(s, top, 0).T], 1)
    ci = np.concatenate([best[1], ids[top].T], 1)
    order = np.lexsort((ci, -cs), axis=1)[:, :k]                                         # best first, ties by row
    return np.take_along_axis(cs, order, 1), np.take_along_axis(ci, order, 1)


def _finite(best) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(s[np.isfinite(s)], i[np.isfinite(s)]) for s, i in zip(*best)]


def exact_top(col, queries, filters: tuple[str, ...], k: int = K, lists_k: int = 0, chunk: int = 16_384) -> dict:
    """Brute force in one pass over the vectors, in chunks of metaverses: the served score of every metaverse for
    every query, level and filter -> {"top": {level: {filter: per query (scores, rows) of its top k}}}. With lists_k,
    also the exact top lists the engine's first step asks an index for: {"rooms": {filter: per part (scores, rows)},
    "metaverses": {filter: per query (scores, rows)}}, lists_k long."""
    n_q, w = len(queries), {lv: _room_weight(lv) for lv in LEVELS}
    part_offsets = queries.part_offsets
    n_parts = np.diff(part_offsets).astype(np.float32)
    empty = lambda n: (np.full((n, 0), -np.inf, np.float32), np.zeros((n, 0), np.int64))  # noqa: E731
    best = {(lv, f): empty(n_q) for lv in LEVELS for f in filters}
    room_lists = {f: empty(len(queries.parts)) for f in filters}
    mv_lists = {f: empty(n_q) for f in filters}
    for a in range(0, col.n_metaverses, chunk):
        b = min(a + chunk, col.n_metaverses)
        ra, rb = col.room_offsets[a], col.room_offsets[b]
        room_scores = col.room_vecs[ra:rb] @ queries.parts.T                             # (rooms, sum P)
        per_mv = np.maximum.reduceat(room_scores, col.room_offsets[a:b] - ra, axis=0)     # (B, sum P)
        evidence = np.add.reduceat(per_mv, part_offsets[:-1], axis=1) / n_parts           # (B, Q)
        mv = col.metaverse_vecs[a:b] @ queries.metaverse.T                               # (B, Q)
        codes = col.kind_codes[a:b]
        masks = {f: None if f == ALL else (codes == KINDS.index(f))[:, None] for f in filters}
        rows = np.arange(a, b)
        for lv in LEVELS:
            served = (mv + w[lv] * evidence) / (1 + w[lv])                               # (B, Q)
            for f, m in masks.items():
                best[lv, f] = _keep_top(best[lv, f], served if m is None else np.where(m, served, -np.inf), rows, k)
        if lists_k:
            room_codes = np.repeat(codes, np.diff(col.room_offsets[a:b + 1]))[:, None]
            for f, m in masks.items():
                rs = room_scores if m is None else np.where(room_codes == KINDS.index(f), room_scores, -np.inf)
                room_lists[f] = _keep_top(room_lists[f], rs, np.arange(ra, rb), lists_k)
                mv_lists[f] = _keep_top(mv_lists[f], mv if m is None else np.where(m, mv, -np.inf), rows, lists_k)
    out = {"top": {lv: {f: _finite(best[lv, f]) for f in filters} for lv in LEVELS}}
    if lists_k:
        out["rooms"] = {f: _finite(v) for f, v in room_lists.items()}
        out["metaverses"] = {f: _finite(v) for f, v in mv_lists.items()}
    return out


class _ListLookup:
    """A LevelIndex that answers from precomputed exact top lists, keyed by the query vector's bytes and the filter
    (the served pipeline with exact first-step lists: what the candidate scheme itself loses)."""

    def __init__(self, vectors: np.ndarray, lists: dict):
        self.lists = {(v.tobytes(), f): per[i] for f, per in lists.items() for i, v in enumerate(vectors)}

    def search(self, query: np.ndarray, k: int, kind: str = ALL):
        scores, rows = self.lists[np.asarray(query, np.float32).tobytes(), kind]
        return scores[:k], rows[:k]


def run_size(n: int, queries: int = 200, seed: int = 0, kind: str = "museum", approximate: Optional[bool] = None,
             warmup: int = 10, search_threads: int = 1, candidates: Optional[int] = None) -> dict:
    """One collection size in this process: generation, index builds (faiss on every core), served latency (faiss and
    BLAS on `search_threads`: one per request, as serving pins torch), recall, memory. `candidates` overrides the engine's
    top-list length (engine.CANDIDATES) in this process, to measure what a longer list buys."""
    import faiss
    from backend.data.synthetic_scale import load_demo_vectors, make_scale_collection, make_scale_queries
    from backend.search import engine
    from backend.search.engine import find_and_score
    from backend.search.index import KindIndex
    if candidates:
        engine.CANDIDATES = int(candidates)
    pid = os.getpid()
    load_before = os.getloadavg()[0]
    demo = load_demo_vectors()
    t = time.perf_counter()
    col = make_scale_collection(n, seed, demo)
    out = {"n_metaverses": n, "n_rooms": col.n_rooms, "dim": int(col.room_vecs.shape[1]),
           "kinds": {k: int((col.kind_codes == i).sum()) for i, k in enumerate(KINDS)},
           "generate_s": round(time.perf_counter() - t, 2), "rss_mb": {"after_generate": proc_status_mb(pid, "VmRSS")}}
    owner = col.room_owner()
    kinds = col.kinds()
    build, indexes = {}, {}
    for level, vecs, level_kinds in (("metaverse", col.metaverse_vecs, kinds), ("room", col.room_vecs, kinds[owner])):
        t = time.perf_counter()
        indexes[level] = KindIndex(vecs, level_kinds, level, approximate=approximate)
        build[level] = round(time.perf_counter() - t, 2)
    del kinds
    out["build_s"] = build
    out["index"] = {level: ix.describe() for level, ix in indexes.items()}
    out["rss_mb"]["after_build"] = proc_status_mb(pid, "VmRSS")
    qs = make_scale_queries(queries, seed, demo)
    filters = (ALL, kind)

    def serve(qv, f):
        cands, scored = find_and_score(indexes["metaverse"], indexes["room"], owner, col.metaverse_vecs,
                                       col.room_vecs, col.room_offsets, qv, K, f)
        return scored.rows[:K], scored.served[:K], len(cands.rows), time.perf_counter()

    build_threads = faiss.omp_get_max_threads()
    with limited_library_threads(search_threads):   # one query per thread, as served; OpenBLAS's second
        # thread had turned a 3,500 x 256 rescoring product from 0.6 ms into 8 ms
        for i in range(min(warmup, len(qs))):
            for level in LEVELS:
                serve(query_vecs(qs, i, level), ALL)
        latency, recall, served, served_scores = {}, {}, {}, {}
        for level in LEVELS:
            for f in filters:
                total, n_cands, tops, top_scores = [], [], [], []
                for q in range(len(qs)):
                    qv = query_vecs(qs, q, level)
                    t0 = time.perf_counter()
                    top, top_s, c, t1 = serve(qv, f)
                    total.append((t1 - t0) * 1000)
                    n_cands.append(c)
                    tops.append(top)
                    top_scores.append(top_s)
                # candidates_*: metaverses scored exactly (the lists grow past 256 when the threshold says so)
                latency.setdefault(level, {})[f] = {**_pct(total), "candidates_mean": round(float(np.mean(n_cands)), 1),
                                                    "candidates_max": int(np.max(n_cands))}
                served[level, f], served_scores[level, f] = tops, top_scores
    out["rss_mb"]["after_queries"] = proc_status_mb(pid, "VmRSS")
    out["threads"] = {"build": build_threads, "search": search_threads}
    t = time.perf_counter()
    exact = exact_top(col, qs, filters, lists_k=engine.MAX_CANDIDATES)
    out["exact_s"] = round(time.perf_counter() - t, 2)
    truth = {lv: {f: [rows for _, rows in per_q] for f, per_q in by_f.items()} for lv, by_f in exact["top"].items()}
    mv_lists = _ListLookup(qs.metaverse, exact["metaverses"])
    room_lists = _ListLookup(qs.parts, exact["rooms"])
    query_kind = demo.kind_codes[qs.template]                          # the kind of the demo metaverse drawn

    def recall_of(tops, level, f):
        return np.array([len(np.intersect1d(top, truth[level][f][q])) / max(1, len(truth[level][f][q]))
                         for q, top in enumerate(tops)])

    by_kind, ceiling, gap = {}, {}, {}
    for level in LEVELS:
        for f in filters:
            hits = recall_of(served[level, f], level, f)
            recall.setdefault(level, {})[f] = round(float(hits.mean()), 4)
            gap.setdefault(level, {})[f] = round(float(np.mean([exact["top"][level][f][q][0].mean() - s.mean()
                                                                for q, s in enumerate(served_scores[level, f])])), 5)
            by_kind.setdefault(level, {})[f] = {k: round(float(hits[query_kind == i].mean()), 4)
                                                for i, k in enumerate(KINDS) if (query_kind == i).any()}
            tops = []
            for q in range(len(qs)):       # the same two steps with exact top lists instead of the indexes
                qv = query_vecs(qs, q, level)
                tops.append(find_and_score(mv_lists, room_lists, owner, col.metaverse_vecs, col.room_vecs,
                                           col.room_offsets, qv, K, f)[1].rows[:K])
            ceiling.setdefault(level, {})[f] = round(float(recall_of(tops, level, f).mean()), 4)
    out["recall_at_10_by_query_kind"] = by_kind
    out["recall_at_10_exact_lists"] = ceiling
    out["score_gap_at_10"] = gap               # mean served score of the exact top-10 minus that of the served top-10
    out["candidates_per_list"] = engine.CANDIDATES
    out.update(latency_ms=latency, recall_at_10=recall, queries=len(qs),
               query_parts={str(p): int(c) for p, c in zip(*np.unique(np.diff(qs.part_offsets), return_counts=True))})
    out["rss_mb"]["peak"] = proc_status_mb(pid, "VmHWM")
    out["loadavg_1min"] = {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)}  # others on the box
    return out


def _run_child(n: int, queries: int, seed: int, kind: str, approximate: Optional[bool],
               candidates: Optional[int] = None) -> dict:
    """run_size in a fresh interpreter, so VmHWM is this size's peak alone."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "size.json"
        cmd = [sys.executable, "-m", "backend.ops.bench_scale", "--size", str(n), "--queries", str(queries),
               "--seed", str(seed), "--kind", kind, "--json-out", str(path)]
        if approximate is not None:
            cmd += ["--approximate", "yes" if approximate else "no"]
        if candidates:
            cmd += ["--candidates", str(candidates)]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True)
        result = json.loads(path.read_text())
        result["wall_s"] = round(time.perf_counter() - t, 1)
        return result


def plot_scale(report: dict, path: Path) -> None:
    """p50/p95 served latency per level (filter all and the kind) and peak RSS against collection size, log x."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = [r["n_metaverses"] for r in report["sizes"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for level, colour in zip(LEVELS, ("tab:blue", "tab:orange")):
        for f, style in zip((ALL, report["kind"]), ("-", ":")):
            for stat, marker in (("p50", "o"), ("p95", "^")):
                ax1.plot(sizes, [r["latency_ms"][level][f][stat] for r in report["sizes"]], style, marker=marker,
                         color=colour, label=f"{level} level, {f}, {stat}")
    ax1.axhline(GOALS["p50_ms"], color="grey", lw=0.8, ls="--", label=f"goal p50 ≤ {GOALS['p50_ms']:.0f} ms")
    ax1.set(xscale="log", xlabel="metaverses", ylabel="served query (ms)", title="Latency: candidates + exact score")
    ax1.legend(fontsize=7)
    ax2.plot(sizes, [r["rss_mb"]["peak"] / 1024 for r in report["sizes"]], "o-", color="tab:red", label="peak RSS")
    ax2.plot(sizes, [r["rss_mb"]["after_build"] / 1024 for r in report["sizes"]], "s--", color="tab:purple",
             label="RSS after build")
    ax2.axhline(GOALS["peak_rss_gb"], color="grey", lw=0.8, ls="--", label=f"goal ≤ {GOALS['peak_rss_gb']:.0f} GB")
    ax2.set(xscale="log", xlabel="metaverses", ylabel="GB", title="Memory (vectors + indexes)")
    ax2.legend(fontsize=8)
    fig.suptitle(f"bench-scale {report['date']} ({report['machine']['cores']} cores)", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_scale_bench(sizes: list[int], queries: int = 200, seed: int = 0, kind: str = "museum",
                    approximate: Optional[bool] = None, out: Optional[Path] = None,
                    plot: Optional[Path] = None, candidates: Optional[int] = None) -> dict:
    """Every size in its own subprocess; the report (and plot) written when asked."""
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    report = {"date": date.today().isoformat(), "machine": _machine(), "k": K, "kind": kind, "seed": seed,
              "approximate": {None: "auto", True: "forced", False: "off"}[approximate], "goals": GOALS, "sizes": []}
    for n in sizes:
        report["sizes"].append(_run_child(n, queries, seed, kind, approximate, candidates))
        if out:                                               # partial reports survive a later size failing
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(report, indent=2) + "\n")
    if plot:
        plot_scale(report, Path(plot))
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="one size of bench-scale (run by run_scale_bench in a subprocess)")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", default="museum")
    p.add_argument("--approximate", choices=["yes", "no"], default=None)
    p.add_argument("--candidates", type=int, default=None)
    p.add_argument("--json-out", required=True)
    a = p.parse_args(argv)
    approximate = None if a.approximate is None else a.approximate == "yes"
    report = run_size(a.size, a.queries, a.seed, a.kind, approximate, candidates=a.candidates)
    Path(a.json_out).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
