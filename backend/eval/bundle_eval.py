"""`python -m backend eval`: every ranker of a bundle on a split — R@K, MedR, concept nDCG, and nDCG on qrels."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.bundle import load_bundle
from backend.data.collection import Collection

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


def evaluate_bundle(bundle_dir: Path, split: str = "test", qrels: Optional[str] = None) -> dict:
    from backend.eval.evaluate import evaluate_baseline, evaluate_hicalm
    bundle = load_bundle(bundle_dir)
    col = bundle.collection
    idx = col.split_indices(split)
    if len(idx) < 2:
        raise ValueError(f"split {split!r} of {bundle_dir} has {len(idx)} metaverses; need at least 2 to evaluate")
    judgements = read_trec_qrels(Path(qrels)) if qrels else structural_qrels(col, idx)
    report = {"bundle": str(bundle_dir), "split": split, "n_queries": int(len(idx)), "n_metaverses": col.n_metaverses,
              "qrels": qrels or "structural (same rooms = 2, half the rooms = 1)", "rankers": {},
              "reference_published": REFERENCE_NUMBERS}
    report["rankers"]["baseline"] = evaluate_baseline(col, split, qrels=judgements)
    if "hicalm" in bundle.manifest.get("rankers", {}):
        from backend.model.hicalm import load_checkpoint
        model, _ = load_checkpoint(bundle.artifact(bundle.manifest["rankers"]["hicalm"]["checkpoint"]))
        report["rankers"]["hicalm"] = evaluate_hicalm(model, col, split, qrels=judgements)
    if bundle.manifest.get("source", {}).get("type") == "demo":
        report["room_queries"] = room_query_eval(bundle_dir, split, check_hashes=False)  # verified just above
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
    if "room_queries" in report:
        rq = report["room_queries"]
        rows += ["", f"Short queries in held-out words ({rq['n_queries']} each, served ranking over the whole collection):",
                 "", "| query | ranker | P@10 | nDCG@10 | best room is a named room (relevant hits) |",
                 "|---|---|---|---|---|"]
        served = rq["full_description_R@1_served"]
        rows += [f"| full description | {name} | R@1 {100 * served[name]:.1f} (among all {report['n_metaverses']}) | | |"
                 for name in report["rankers"] if name in served]
        for kind in ("one_room", "two_rooms"):
            rows += [f"| {kind.replace('_', ' ')} | {name} | {100 * rq[kind][name]['P@10']:.1f} | "
                     f"{100 * rq[kind][name]['nDCG@10']:.1f} | "
                     f"{100 * (rq[kind][name]['attribution_accuracy'] or 0):.1f} % of {rq[kind][name]['attributed_hits']} |"
                     for name in report["rankers"] if name in rq[kind]]
    return "\n".join(rows)


def room_query_eval(bundle_dir: Path, split: str = "test", n_queries: int = 150, seed: int = 0,
                    check_hashes: bool = True) -> dict:
    """What a visitor does: a short query naming one or two rooms, in words the encoders never saw in training.

    Each query paraphrases rooms of a split metaverse (held-out subject/palette/style words; two rooms joined as
    "a room of X, then a room of Y"); relevant = every metaverse holding all the named rooms (same subject and
    palette). Ranked through the search service, as served, over the whole collection. -> per query type and ranker
    P@10, binary nDCG@10, and attribution accuracy: among relevant hits, how often the room credited most ("best
    room") is one of the named rooms (demo world only)."""
    from backend.service import SearchService
    from backend.world.generate import heldout_query
    service = SearchService.from_bundle(bundle_dir, check_hashes=check_hashes)
    col = service.collection
    if service.bundle.manifest.get("source", {}).get("type") != "demo":
        raise ValueError("room-query evaluation needs a demo-world bundle (it paraphrases rendered rooms)")
    rng = np.random.default_rng(seed)
    idx = col.split_indices(split)
    titles = [{r.title for r in m.rooms} for m in col.metaverses]
    queries: dict[str, list] = {"one_room": [], "two_rooms": []}
    for _ in range(n_queries):
        info = col.metaverses[int(rng.choice(idx))]
        a, b = (info.rooms[int(i)] for i in rng.choice(len(info.rooms), 2, replace=False))
        pa, pb = heldout_query(a.images[0], rng), heldout_query(b.images[0], rng)
        for name, text, named in (("one_room", pa, {a.title}),
                                  ("two_rooms", f"a room of {pa}, then a room of {pb}", {a.title, b.title})):
            relevant = {col.metaverses[m].id for m in range(col.n_metaverses) if named <= titles[m]}
            queries[name].append((text, relevant, named))
    discounts = 1 / np.log2(np.arange(2, 12))
    out: dict = {"n_queries": n_queries, "split": split, "full_description_R@1_served": {}}
    for ranker in service.rankers():  # the whole description as typed into the app, ranked over ALL metaverses
        firsts = [service.search(text="\n\n".join(col.metaverses[m].paragraphs), k=1, ranker=ranker)["results"][0]["id"]
                  == col.metaverses[m].id for m in idx]
        out["full_description_R@1_served"][ranker] = round(float(np.mean(firsts)), 4)
    for name, qs in queries.items():
        section = {"examples": [q[0] for q in qs[:2]]}
        for ranker in service.rankers():
            p10, ndcg, credited = [], [], []
            for text, relevant, named in qs:
                results = service.search(text=text, k=10, ranker=ranker)["results"]
                hits = [h["id"] in relevant for h in results]
                p10.append(np.mean(hits))
                ndcg.append(float(np.dot(hits, discounts[:len(hits)]) / discounts[:min(10, len(relevant))].sum()))
                credited += [h["rooms"][h["best_room"] - 1]["title"] in named for h, hit in zip(results, hits) if hit]
            section[ranker] = {"P@10": round(float(np.mean(p10)), 4), "nDCG@10": round(float(np.mean(ndcg)), 4),
                               "attribution_accuracy": round(float(np.mean(credited)), 4) if credited else None,
                               "attributed_hits": len(credited)}
        out[name] = section
    return out
