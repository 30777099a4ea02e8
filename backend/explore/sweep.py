"""`python -m backend.explore.sweep`: the HDBSCAN sweep that chooses the metaverse map's clustering, as a table.

For every ranker space of a bundle, the metaverse level's cluster space (the same UMAP fit `build maps` makes, seed
MAP_SEED) is clustered with each (cluster_selection, min_cluster_size, min_samples) of the grid; each row gives
clusters, noise and ARI / NMI against the themes. CHOICE_RULE picks, per space, the setting `build maps` uses
(bundle_maps.METAVERSE_CLUSTERING holds the result; a test checks the two agree).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from backend.explore.bundle_maps import MAP_SEED, level_truth, ranker_vectors
from backend.explore.maps import _check_vecs, cluster_agreement, cluster_labels, cluster_space

SELECTIONS = ("leaf", "eom")
MIN_CLUSTER_SIZES = (5, 8, 10, 15, 20)
MIN_SAMPLES = (1, 2, 3, 5, None)        # None: HDBSCAN's default, min_samples = min_cluster_size
MAX_NOISE, MIN_CLUSTERS, MAX_CLUSTERS = 0.15, 8, 40
SETTING = ("cluster_selection", "min_cluster_size", "min_samples")
CHOICE_RULE = (f"per ranker space, among settings with metaverse noise <= {MAX_NOISE:.0%} and "
               f"{MIN_CLUSTERS}-{MAX_CLUSTERS} clusters (a map people can read), the highest ARI against the themes; "
               f"ties to the higher NMI, then the larger min_cluster_size (no one setting meets the bar in both spaces)")


def sweep(bundle_dir: Path, n_neighbors: int = 15, cluster_dims: int = 5) -> dict:
    """Rows of the sweep for every ranker space and the setting CHOICE_RULE picks."""
    from backend.data.bundle import load_bundle
    bundle = load_bundle(bundle_dir)
    col = bundle.collection
    truth = level_truth(col, "metaverse")
    if truth is None:
        raise ValueError(f"{bundle_dir}: the metaverses have no themes, so there is nothing to sweep against")
    spaces = {}
    for ranker, by_level in ranker_vectors(bundle).items():
        X = _check_vecs(by_level["metaverse"], "vecs")
        spaces[ranker] = cluster_space(X, MAP_SEED, min(n_neighbors, len(X) - 1), cluster_dims)
    rows = []
    for sel, mcs, ms in itertools.product(SELECTIONS, MIN_CLUSTER_SIZES, MIN_SAMPLES):
        row = {"cluster_selection": sel, "min_cluster_size": mcs, "min_samples": ms, "by_ranker": {}}
        for ranker, space in spaces.items():
            a = cluster_agreement(cluster_labels(space, mcs, ms, sel), truth)
            row["by_ranker"][ranker] = {"n_clusters": a["n_clusters"], "noise": round(a["noise_fraction"], 3),
                                        "ari": round(a["adjusted_rand"], 3), "nmi": round(a["nmi"], 3)}
        rows.append(row)
    choice = {}
    for ranker in spaces:
        ok = [r for r in rows if r["by_ranker"][ranker]["noise"] <= MAX_NOISE
              and MIN_CLUSTERS <= r["by_ranker"][ranker]["n_clusters"] <= MAX_CLUSTERS]
        best = max(ok, key=lambda r: (r["by_ranker"][ranker]["ari"], r["by_ranker"][ranker]["nmi"],
                                      r["min_cluster_size"]), default=None)
        choice[ranker] = None if best is None else {**{k: best[k] for k in SETTING}, **best["by_ranker"][ranker]}
    return {"bundle": str(bundle_dir), "seed": MAP_SEED, "rule": CHOICE_RULE, "rows": rows, "choice": choice}


def table(report: dict) -> str:
    """The sweep as a plain-text table, one line per setting, the chosen one marked."""
    rankers = list(report["rows"][0]["by_ranker"])
    head = f"{'sel':4} {'mcs':>3} {'ms':>4} " + " ".join(f"| {r:^27}" for r in rankers)
    sub = " " * 14 + " ".join(f"| {'clus':>4} {'noise':>6} {'ARI':>6} {'NMI':>6} " for _ in rankers)
    lines = [head, sub]
    for r in report["rows"]:
        chosen = [rk for rk, c in report["choice"].items() if c and all(r[k] == c[k] for k in SETTING)]
        mark = f" <- chosen for {', '.join(chosen)}" if chosen else ""
        cells = " ".join(f"| {v['n_clusters']:>4} {v['noise']:>6.1%} {v['ari']:>6.3f} {v['nmi']:>6.3f} "
                         for v in r["by_ranker"].values())
        lines.append(f"{r['cluster_selection']:4} {r['min_cluster_size']:>3} {str(r['min_samples']):>4} {cells}{mark}")
    lines.append(f"rule: {report['rule']}")
    for rk, c in report["choice"].items():
        lines.append(f"chosen for {rk}: " + ("nothing meets the bar" if c is None else
                     ", ".join(f"{k}={c[k]}" for k in SETTING) + f" -> {c['n_clusters']} clusters, "
                     f"noise {c['noise']:.1%}, ARI {c['ari']:.3f}, NMI {c['nmi']:.3f}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backend.explore.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="precomputed")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    args = p.parse_args(argv)
    report = sweep(Path(args.bundle))
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
