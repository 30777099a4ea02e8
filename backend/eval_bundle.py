"""`python -m backend eval`: every ranker of a bundle on a split — R@K, MedR, concept nDCG, and nDCG on qrels."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from backend.bundle import load_bundle
from backend.collection import Collection

log = logging.getLogger(__name__)

# Published by the HiCALM / HierArtEx authors on THEIR data (not ours): text -> metaverse.
REFERENCE_NUMBERS = {
    "Museums3k test (450), HiCALM": {"R@1": 95.0, "nDCG@5": 75.7},
    "Museums3k test, HierArtEx (MMM 2025)": {"R@1": 48.7},
    "Museums3k test, mean-pool baseline": {"R@1": 21.8},
    "GamingMV test (50), HiCALM": {"R@1": 62.0, "nDCG3@10": 62.6},
}


def structural_qrels(collection: Collection, idx: np.ndarray) -> dict[str, dict[str, int]]:
    """Graded judgements from the collection's own structure (room titles), for every query metaverse in idx:
    3 = the metaverse itself, 2 = the same rooms in another order, 1 = shares at least half of its rooms."""
    rooms = {int(m): Counter(r.title for r in collection.metaverses[m].rooms) for m in idx}
    qrels: dict[str, dict[str, int]] = {}
    for q in idx:
        q_id, q_rooms = collection.metaverses[q].id, rooms[int(q)]
        judged = {}
        for t in idx:
            t_rooms = rooms[int(t)]
            if t == q:
                grade = 3
            elif t_rooms == q_rooms:
                grade = 2
            elif sum((q_rooms & t_rooms).values()) * 2 >= sum(q_rooms.values()):
                grade = 1
            else:
                continue
            judged[collection.metaverses[t].id] = grade
        qrels[q_id] = judged
    return qrels


def read_trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels: `query_id 0 doc_id grade` per line."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: expected 'query_id 0 doc_id grade', got {line!r}")
        qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


def _run(collection: Collection, idx: np.ndarray, sim: np.ndarray) -> dict[str, dict[str, float]]:
    ids = [collection.metaverses[m].id for m in idx]
    return {ids[i]: {ids[j]: float(sim[i, j]) for j in range(len(ids))} for i in range(len(ids))}


def evaluate_bundle(bundle_dir: Path, split: str = "test", qrels: Optional[str] = None) -> dict:
    from backend.evaluate import (baseline_description_vecs, baseline_metaverse_vecs, evaluate_baseline,
                                  evaluate_hicalm, qrels_ndcg)
    bundle = load_bundle(bundle_dir)
    col = bundle.collection
    idx = col.split_indices(split)
    if len(idx) < 2:
        raise ValueError(f"split {split!r} of {bundle_dir} has {len(idx)} metaverses; need at least 2 to evaluate")
    judgements = read_trec_qrels(Path(qrels)) if qrels else structural_qrels(col, idx)
    report = {"bundle": str(bundle_dir), "split": split, "n_queries": int(len(idx)),
              "qrels": qrels or "structural (same rooms = 2, half the rooms = 1)", "rankers": {},
              "reference_published": REFERENCE_NUMBERS}
    base = evaluate_baseline(col, split)
    sim = baseline_description_vecs(col, idx) @ baseline_metaverse_vecs(col, idx).T
    base["qrels_nDCG@10"] = qrels_ndcg(judgements, _run(col, idx, sim), 10)["mean"]
    report["rankers"]["baseline"] = base
    if "hicalm" in bundle.manifest.get("rankers", {}):
        from backend.model import encode_descriptions, encode_metaverses_visual, load_checkpoint
        model, _ = load_checkpoint(bundle.artifact(bundle.manifest["rankers"]["hicalm"]["checkpoint"]))
        hic = evaluate_hicalm(model, col, split)
        text_vecs, _ = encode_descriptions(model, col, idx)
        visual_vecs, _ = encode_metaverses_visual(model, col, idx)
        hic["qrels_nDCG@10"] = qrels_ndcg(judgements, _run(col, idx, text_vecs @ visual_vecs.T), 10)["mean"]
        report["rankers"]["hicalm"] = hic
    return report


def format_table(report: dict) -> str:
    """A markdown table of the text -> metaverse metrics (percent) per ranker."""
    rows = ["| ranker | R@1 | R@5 | R@10 | MedR | nDCG@5 | nDCG@10 | qrels nDCG@10 | m→t R@1 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["rankers"].items():
        t, v = r["text_to_metaverse"], r["metaverse_to_text"]
        q = r["qrels_nDCG@10"]
        rows.append(f"| {name} | {100 * t['R@1']:.1f} | {100 * t['R@5']:.1f} | {100 * t['R@10']:.1f} | {t['MedR']:.0f} | "
                    f"{100 * t.get('nDCG@5', float('nan')):.1f} | {100 * t.get('nDCG@10', float('nan')):.1f} | "
                    f"{100 * float(q):.1f} | {100 * v['R@1']:.1f} |")
    return "\n".join(rows)
