"""Write queries/images-v1.jsonl: 96 render queries at 64, 256, 512 and 1,024 px, to measure how much an image
query's ranking depends on the size of the upload (typed-v1.jsonl has 12 renders per half, too few to pin a
5-point gap down).

Each query is a new demo render of one room recipe of the world: a (subject, palette, style) that some room holds,
drawn with a seed that appears nowhere in precomputed/metaverses.json nor in typed-v1.jsonl. Relevant: every
metaverse with a room of that subject and palette (the same rule as typed-v1's renders). Recipes are drawn evenly
over the distinct (kind, subject, palette) pairs, 72 museum and 24 game queries (typed-v1's 3:1).

All of it is split "test": nothing is tuned on this file, it is only reported. Deterministic (one numpy seed);
imports nothing from backend/.

    python queries/make_image_queries.py          # writes queries/images-v1.jsonl
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORLD = HERE.parent / "precomputed" / "metaverses.json"
OUT = HERE / "images-v1.jsonl"
SIZES = [64, 256, 512, 1024]
PER_KIND = {"museum": 72, "game": 24}


def main(seed: int = 20261201, out_path: Path = OUT) -> list[dict]:
    world = json.loads(WORLD.read_text())
    used_seeds = {img["seed"] for m in world for room in m["rooms"] for img in room["images"] if img}
    for line in (HERE / "typed-v1.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q.get("image", {}).get("seed") is not None:
            used_seeds.add(q["image"]["seed"])
    recipes: dict[tuple, set] = {}   # (kind, subject, palette) -> styles seen with it
    for m in world:
        for room in m["rooms"]:
            for img in room["images"]:
                if img:
                    recipes.setdefault((img["kind"], img["subject"], img["palette"]), set()).add(img["style"])
    rng = np.random.default_rng(seed)
    out = []
    for kind, n in PER_KIND.items():
        pairs = sorted(k for k in recipes if k[0] == kind)
        picks = [pairs[i] for i in rng.permutation(len(pairs))[:n]]
        if len(picks) < n:   # fewer distinct pairs than queries: go round again
            picks += [pairs[i] for i in rng.choice(len(pairs), n - len(picks))]
        for kind_, subject, palette in picks:
            styles = sorted(recipes[(kind_, subject, palette)])
            style = styles[int(rng.integers(len(styles)))]
            s = int(rng.integers(1, 2**31 - 1))
            while s in used_seeds:
                s = int(rng.integers(1, 2**31 - 1))
            used_seeds.add(s)
            out.append({"id": f"s{len(out) + 1:03d}", "split": "test", "type": "image", "kind": kind_, "form": "render",
                        "image": {"subject": subject, "palette": palette, "style": style, "seed": s, "kind": kind_},
                        "sizes": SIZES, "rooms": [{"subject": subject, "palette": palette}], "ordered": False,
                        "target": None})
    out_path.write_text("".join(json.dumps(q) + "\n" for q in out))
    return out


if __name__ == "__main__":
    qs = main()
    print(f"wrote {len(qs)} queries to {OUT}")
