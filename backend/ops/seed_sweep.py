"""`python -m backend train --seeds 0,1,2 --queries FILE`: train HiCALM once per seed with the same options, score
each model on the dev half of a query set as served, and report every figure per seed with its mean and spread.

One seed to the next moves dev multi-room R@1 by up to 16 points on the demo world (README, session 7), so a training
option is judged by its mean over seeds, never by one run. Each seed's bundle is written to a scratch folder and
deleted; the bundle itself is not changed (train it with the chosen options and `--seed` afterwards). Only the dev
half can be swept: the test half is report only."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from backend.paths import REPO

log = logging.getLogger(__name__)


def _flat(groups: dict) -> dict[str, float]:
    """{group: {metric: value, "n": .., "ci95": ..}} -> {"group/metric": value} (means only)."""
    return {f"{g}/{m}": v for g, metrics in groups.items() for m, v in metrics.items()
            if m not in ("n", "ci95") and isinstance(v, (int, float))}


def _eval_dev(bundle: Path, queries_path: Path) -> dict:
    """`eval --queries` on the dev half in a fresh process, exactly as a user runs it: serving pins torch, faiss and
    BLAS to one thread for the life of a process, which must not leak into the next seed's training."""
    r = subprocess.run([sys.executable, "-m", "backend", "eval", "--bundle", str(bundle), "--queries", str(queries_path),
                        "--query-split", "dev", "--json"], cwd=REPO, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"eval of {bundle} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def seed_sweep(bundle_dir: Path, seeds: Sequence[int], queries_path: Path, train_kwargs: dict,
               work_dir: Path | None = None) -> dict:
    """-> {"seeds", "options", "per_seed": {"<seed>": {"group/metric": value}}, "mean", "std", "baseline",
    "seconds"}."""
    from backend.eval.queryset import load_queries
    from backend.ops.build import retrain_bundle
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, got {list(seeds)!r}")
    load_queries(queries_path)   # a malformed file fails here, before any training
    scratch = Path(tempfile.mkdtemp(prefix="seed-sweep-", dir=work_dir))
    per_seed, baseline, t0 = {}, None, time.perf_counter()
    try:
        for seed in seeds:
            out = scratch / f"seed-{seed}"
            retrain_bundle(bundle_dir, seed=seed, out=out, **train_kwargs)
            report = _eval_dev(out, queries_path)
            per_seed[str(seed)] = _flat(report["rankers"]["hicalm"])   # str: the same keys in Python and in JSON
            baseline = baseline or _flat(report["rankers"]["baseline"])
            log.info("seed %d: %s", seed, {k: per_seed[str(seed)][k] for k in sorted(per_seed[str(seed)])[:4]})
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    keys = sorted(set.intersection(*(set(v) for v in per_seed.values())))
    values = {k: np.array([per_seed[str(s)][k] for s in seeds]) for k in keys}
    return {"seeds": seeds, "options": dict(train_kwargs), "query_split": "dev", "queries": str(queries_path),
            "per_seed": per_seed, "mean": {k: round(float(v.mean()), 4) for k, v in values.items()},
            "std": {k: round(float(v.std(ddof=1)), 4) if len(v) > 1 else None for k, v in values.items()},
            "baseline": baseline, "seconds": round(time.perf_counter() - t0, 1)}


def format_sweep(report: dict) -> str:
    """A table: one row per figure, one column per seed, then mean ± std and the baseline."""
    seeds = report["seeds"]
    head = "| figure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std | baseline |"
    rows = [head, "|" + "---|" * (len(seeds) + 3)]
    for k, mean in report["mean"].items():
        std = report["std"][k]
        cells = [f"{100 * report['per_seed'][str(s)][k]:.1f}" for s in seeds]
        base = report["baseline"].get(k)
        rows.append(f"| {k} | " + " | ".join(cells) + f" | {100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None
                    else "") + f" | {'' if base is None else f'{100 * base:.1f}'} |")
    return "\n".join(rows)
