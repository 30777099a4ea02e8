"""Query sets as visitors type them (queries/README.md): loading, relevance from the metaverses' room recipes, and the
served ranking scored per group (multi-room target R@K, one-room P@10/nDCG@10/R@10, image P@10 per size, order,
and for queries with a kind_named field, whether the first hit is of the kind the query names). Render image queries
are also scored style-strict (image_style@SIZE groups; see style_strict_rooms)."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from backend.data.collection import Collection
from backend.eval.metrics import bootstrap_ci, paired_difference
from backend.paths import REPO

log = logging.getLogger(__name__)

SPLITS = ("dev", "test")
K = 10
_DISCOUNTS = 1 / np.log2(np.arange(2, K + 2))


def load_queries(path: Path) -> list[dict]:
    """Every line a query; ValueError naming the line of the first malformed one."""
    out, seen = [], set()
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
        missing = {"id", "split", "type", "kind", "rooms"} - set(q)
        if missing or q["type"] not in ("text", "image") or q["split"] not in SPLITS or q["id"] in seen:
            raise ValueError(f"{path}:{n}: needs id, split (dev|test), type (text|image), kind, rooms, a unique id; "
                             f"got {sorted(q)}")
        seen.add(q["id"])
        out.append(q)
    return out


def room_recipes(col: Collection, m: int) -> list[dict]:
    """subject + palette of each room of metaverse m, and style when all its images share one."""
    out = []
    for room in col.metaverses[m].rooms:
        refs = [r for r in room.images if r and "subject" in r]   # render recipes; stored pictures have none
        if not refs:
            out.append({})
            continue
        styles = {r.get("style") for r in refs}
        out.append({"subject": refs[0].get("subject"), "palette": refs[0].get("palette"),
                    "style": styles.pop() if len(styles) == 1 else None})
    return out


def is_relevant(recipes: list[dict], named: list[dict], ordered: bool) -> bool:
    """Each named recipe matches a different room (on the fields it gives), in increasing room order if ordered."""
    def match(q: dict, r: dict) -> bool:
        return all(r.get(field) == value for field, value in q.items())

    def assign(i: int, used: frozenset, last: int) -> bool:
        if i == len(named):
            return True
        return any(assign(i + 1, used | {j}, j) for j, r in enumerate(recipes)
                   if j not in used and (not ordered or j > last) and match(named[i], r))
    return assign(0, frozenset(), -1)


def relevant_ids(col: Collection, q: dict, recipes: Optional[list[list[dict]]] = None) -> set[str]:
    recipes = recipes or [room_recipes(col, m) for m in range(col.n_metaverses)]
    return {col.metaverses[m].id for m in range(col.n_metaverses)
            if col.metaverses[m].kind == q["kind"] and is_relevant(recipes[m], q["rooms"], bool(q.get("ordered")))}


def style_strict_rooms(q: dict) -> Optional[list[dict]]:
    """A render image query's rooms with the render's style added (subject + palette + style), or None for text and
    photo queries. A room whose images mix styles has no style (room_recipes), so it is never style-relevant: a
    visitor who uploads a cubist forest asked for a cubist room, not one where some pictures are cubist."""
    style = (q.get("image") or {}).get("style")
    if q["type"] != "image" or not style or len(q["rooms"]) != 1:
        return None
    return [{**q["rooms"][0], "style": style}]


def order_siblings(col: Collection, target: str, recipes: list[list[dict]]) -> set[str]:
    """Metaverses with the same rooms (subject + palette) as the target in another order."""
    t = col.metaverse_row(target)
    key = sorted((r.get("subject"), r.get("palette")) for r in recipes[t])
    order = [(r.get("subject"), r.get("palette")) for r in recipes[t]]
    return {col.metaverses[m].id for m in range(col.n_metaverses) if m != t
            and sorted((r.get("subject"), r.get("palette")) for r in recipes[m]) == key
            and [(r.get("subject"), r.get("palette")) for r in recipes[m]] != order}


# What strip_separators takes out: the punctuation and words people put between the rooms they name.
_SEPARATOR_PUNCT = re.compile(r"[,;+.]")
_SEPARATOR_WORDS = re.compile(r"\b(?:and|plus|also|then|as well as|followed by)\b", re.IGNORECASE)


def strip_separators(text: str) -> str:
    """The query with its separators removed: "grey seas, pastel flowers and sepia dunes" -> "grey seas pastel flowers
    sepia dunes" (a stress test: a ranking that only works when the visitor separates rooms the expected way)."""
    text = _SEPARATOR_WORDS.sub(" ", _SEPARATOR_PUNCT.sub(" ", text))
    return re.sub(r"\s+", " ", text).strip()


def _query_images(q: dict) -> Iterable[tuple[str, object]]:
    """(size label, PIL image) for each size of an image query."""
    from PIL import Image

    from backend.world.render import render_image
    if "path" in q["image"]:
        with Image.open(REPO / q["image"]["path"]) as im:
            yield "native", im.convert("RGB")
        return
    for size in q.get("sizes") or [64]:
        yield str(size), render_image(q["image"], size=int(size))


def evaluate_queries(service, queries: list[dict], split: str = "all", rankers: Optional[list[str]] = None,
                     separators: str = "keep") -> dict:
    """Served ranking (kind "all", whole collection, k = 10) of every query, both rankers side by side: per group the
    mean of each measure with its 95 % bootstrap interval (ci95), and paired differences over the same queries
    (differences: each ranker - baseline, each image size - 64 px). separators="strip": text queries are scored as
    strip_separators leaves them."""
    if separators not in ("keep", "strip"):
        raise ValueError(f"separators must be 'keep' or 'strip', not {separators!r}")
    read = strip_separators if separators == "strip" else (lambda t: t)
    col = service.collection
    recipes = [room_recipes(col, m) for m in range(col.n_metaverses)]
    chosen = [q for q in queries if split == "all" or q["split"] == split]
    if not chosen:
        raise ValueError(f"no queries in split {split!r}")
    out: dict = {"split": split, "separators": separators, "n_queries": len(chosen), "k": K, "rankers": {}}
    # A query with no style-relevant metaverse could only score 0 style-strict, so it is left out of those groups.
    style_rel = {q["id"]: relevant_ids(col, {**q, "rooms": rooms}, recipes)
                 for q in chosen if (rooms := style_strict_rooms(q)) is not None}
    out["style_strict"] = {"rule": "render image queries: relevant when a room matches subject, palette and the "
                                   "render's style; a room that mixes styles matches no style",
                           "n_queries": sum(1 for r in style_rel.values() if r),
                           "no_relevant": sorted(i for i, r in style_rel.items() if not r)}
    per_query: dict[str, dict[str, dict[str, dict]]] = {}   # ranker -> group -> query id -> metrics
    for ranker in rankers or service.rankers():
        groups: dict[str, dict[str, dict]] = {}
        for q in chosen:
            rel = relevant_ids(col, q, recipes)
            if q["type"] == "text":
                answer = service.search(text=read(q["text"]), k=K, ranker=ranker)
                ids = [h["id"] for h in answer["results"]]
                runs = [("text", ids)]
                if "kind_named" in q:        # the kind-intent measures (queries/kind-dev-v1.jsonl, blind sets)
                    _kind_rows(groups, q, answer)
            else:
                runs = [(f"image@{label}", [h["id"] for h in service.search(image=im, k=K, ranker=ranker)["results"]])
                        for label, im in _query_images(q)]
            for group_suffix, ids in runs:
                gains, row = _precision_row(ids, rel)
                if style_rel.get(q["id"]):
                    srel = style_rel[q["id"]]
                    sgains, srow = _precision_row(ids, srel)
                    srow["R@10"] = float(sum(sgains) / min(K, len(srel)))   # most have < 10 style-relevant: P@10 caps
                    groups.setdefault(group_suffix.replace("image@", "image_style@"), {})[q["id"]] = srow
                if q.get("target"):
                    rank = ids.index(q["target"]) + 1 if q["target"] in ids else None
                    row.update({"R@1": float(rank == 1), "R@10": float(rank is not None)})
                    group = "multi_room"
                    if q.get("ordered"):
                        full = service.search(text=read(q["text"]), k=100, ranker=ranker)["results"]
                        order = [h["id"] for h in full]
                        sibs = order_siblings(col, q["target"], recipes)
                        t = order.index(q["target"]) if q["target"] in order else len(order)
                        row["above_siblings"] = float(all(t < (order.index(s) if s in order else len(order) + 1)
                                                          for s in sibs))
                        groups.setdefault("ordered", {})[q["id"]] = row
                elif q["type"] == "text":
                    group = "one_room"
                    row["R@10"] = float(sum(gains) / max(1, min(K, len(rel))))   # = P@10 unless < 10 relevant
                    row["hit@10"] = float(any(gains))
                    if len(q["rooms"]) == 1 and q["rooms"][0].get("style"):   # style words are the weak point
                        groups.setdefault("one_room_style_named", {})[q["id"]] = row
                else:
                    group = group_suffix
                groups.setdefault(group, {})[q["id"]] = row
        per_query[ranker] = groups
        out["rankers"][ranker] = {g: _summary(list(rows.values())) for g, rows in sorted(groups.items())}
    out["differences"] = _differences(per_query)
    return out


def _precision_row(ids: list[str], rel: set[str]) -> tuple[list[float], dict]:
    """Gains of a top-10 against a relevant set, and its P@10 and nDCG@10."""
    gains = [float(i in rel) for i in ids]
    return gains, {"P@10": float(np.mean(gains)) if gains else 0.0,
                   "nDCG@10": float(np.dot(gains, _DISCOUNTS[:len(gains)]) / _DISCOUNTS[:min(K, len(rel))].sum())}


def _kind_rows(groups: dict, q: dict, answer: dict) -> None:
    """kind_named: is the first hit of the kind the query names; kind_read (every query with a kind_named field): did
    the search read the named kind, or none when the query names none."""
    read = answer["query"].get("kind_intent")
    want = q["kind"] if q["kind_named"] else None
    groups.setdefault("kind_read", {})[q["id"]] = {"right": float((read or {}).get("kind") == want)}
    if q["kind_named"]:
        first = answer["results"][0]["kind"] if answer["results"] else None
        groups.setdefault("kind_named", {})[q["id"]] = {"first_hit_of_kind": float(first == q["kind"])}


def _summary(rows: list[dict]) -> dict:
    """Mean of each metric over a group's queries, and its 95 % bootstrap interval (a few dozen queries per group)."""
    metrics = list(dict.fromkeys(m for r in rows for m in r))   # above_siblings: only the ordered queries have it
    values = {m: [r[m] for r in rows if m in r] for m in metrics}
    return {"n": len(rows), **{m: round(float(np.mean(v)), 4) for m, v in values.items()},
            "ci95": {m: bootstrap_ci(v) for m, v in values.items()}}


def _paired(a: dict, b: dict) -> dict:
    """Per-metric paired difference a - b over the queries both groups hold (keyed by query id)."""
    ids = [i for i in a if i in b]
    metrics = dict.fromkeys(m for i in ids for m in a[i] if m in b[i])
    return {m: paired_difference(*zip(*[(a[i][m], b[i][m]) for i in ids if m in a[i] and m in b[i]]))
            for m in metrics}


def _differences(per_query: dict) -> dict:
    """Paired comparisons over the same queries: every ranker against the baseline per group, and within each ranker
    every image size against 64 px (the goal: within 5 points), subject + palette and style-strict apart."""
    out: dict = {"vs_baseline": {}, "image_size_vs_64": {}, "image_style_size_vs_64": {}}
    base = per_query.get("baseline")
    for ranker, groups in per_query.items():
        if base is not None and ranker != "baseline":
            out["vs_baseline"][ranker] = {g: _paired(rows, base[g]) for g, rows in sorted(groups.items()) if g in base}
        if "image@64" in groups:
            out["image_size_vs_64"][ranker] = {g: _paired(rows, groups["image@64"]) for g, rows in sorted(groups.items())
                                               if g.startswith("image@") and g not in ("image@64", "image@native")}
        if "image_style@64" in groups:
            out["image_style_size_vs_64"][ranker] = {g: _paired(rows, groups["image_style@64"])
                                                     for g, rows in sorted(groups.items())
                                                     if g.startswith("image_style@") and g != "image_style@64"}
    return out
