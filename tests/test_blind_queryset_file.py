"""Checks the hand-written blind query set queries/blind-v1.jsonl against the collection (json only, no backend).

Relevance rule: a room's recipe is its images' subject and palette, plus the style when all its images share one.
A metaverse is relevant to a query when its kind equals the query's kind, each recipe in `rooms` matches a
different room (equal on every field the recipe gives) and, when `ordered`, those rooms have increasing indices.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "queries" / "blind-v1.jsonl"
COLLECTION = ROOT / "precomputed" / "metaverses.json"
MIN_GROUP = {"multi-ordered": 20, "multi-unordered": 25, "one-room-style": 15, "one-room": 10, "kind-named": 20}
FIELDS = ("subject", "palette", "style")


@pytest.fixture(scope="module")
def queries() -> list[dict]:
    with QUERIES.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def collection() -> list[dict]:
    with COLLECTION.open(encoding="utf-8") as f:
        return json.load(f)


def _recipes(metaverse: dict) -> list[dict]:
    out = []
    for room in metaverse["rooms"]:
        images = room["images"]
        recipe = {"subject": images[0]["subject"], "palette": images[0]["palette"]}
        assert all(im["subject"] == recipe["subject"] and im["palette"] == recipe["palette"] for im in images)
        styles = {im["style"] for im in images}
        if len(styles) == 1:
            recipe["style"] = styles.pop()
        out.append(recipe)
    return out


def _match(wanted: dict, recipe: dict) -> bool:
    return all(recipe.get(k) == v for k, v in wanted.items())


def _relevant(metaverse: dict, query: dict) -> bool:
    if metaverse["kind"] != query["kind"]:
        return False
    recipes, wanted = _recipes(metaverse), query["rooms"]
    if query["ordered"]:  # earliest-match greedy is exact for an ordered subsequence
        i = 0
        for w in wanted:
            while i < len(recipes) and not _match(w, recipes[i]):
                i += 1
            if i == len(recipes):
                return False
            i += 1
        return True

    def assign(k: int, used: frozenset) -> bool:  # distinct rooms, by backtracking (at most 4 x 8)
        if k == len(wanted):
            return True
        return any(assign(k + 1, used | {j}) for j, r in enumerate(recipes) if j not in used and _match(wanted[k], r))

    return assign(0, frozenset())


def test_parses_and_fields(queries):
    assert len(queries) >= 90
    for q in queries:
        assert q["type"] == "text" and isinstance(q["text"], str) and q["text"].strip()
        assert q["kind"] in ("museum", "game")
        assert isinstance(q["kind_named"], bool) and isinstance(q["ordered"], bool) and isinstance(q["offvocab"], bool)
        assert q["group"] in MIN_GROUP
        assert isinstance(q["form"], str) and q["form"]
        assert 1 <= len(q["rooms"]) <= 4
        for r in q["rooms"]:
            assert "subject" in r and set(r) <= set(FIELDS)
        if q["group"].startswith("multi"):
            assert 2 <= len(q["rooms"]) <= 4 and q["target"]
            assert q["ordered"] == (q["group"] == "multi-ordered")
        else:
            assert len(q["rooms"]) == 1 and not q["ordered"]
        if q["group"] == "one-room-style":
            assert "style" in q["rooms"][0]
        if q["group"] == "one-room":
            assert "style" not in q["rooms"][0]


def test_ids_unique_and_all_test_split(queries):
    ids = [q["id"] for q in queries]
    assert len(ids) == len(set(ids))
    assert all(q["split"] == "test" for q in queries)


def test_group_counts(queries):
    counts = Counter(q["group"] for q in queries)
    for group, least in MIN_GROUP.items():
        assert counts[group] >= least, (group, counts[group])
    assert sum(q["offvocab"] for q in queries) >= 20


def test_kind_named_both_kinds(queries):
    assert {q["kind"] for q in queries if q["kind_named"]} == {"museum", "game"}
    assert all(q["kind_named"] for q in queries if q["group"] == "kind-named")


def test_recipe_values_occur_for_kind(queries, collection):
    seen = {kind: {f: set() for f in FIELDS} for kind in ("museum", "game")}
    for m in collection:
        for room in m["rooms"]:
            for im in room["images"]:
                for f in FIELDS:
                    seen[m["kind"]][f].add(im[f])
    for q in queries:
        for r in q["rooms"]:
            for f, v in r.items():
                assert v in seen[q["kind"]][f], (q["id"], f, v)


def test_every_query_has_a_relevant_metaverse(queries, collection):
    for q in queries:
        assert any(_relevant(m, q) for m in collection), q["id"]


def test_targets_exist_relevant_and_held_out(queries, collection):
    by_id = {m["id"]: m for m in collection}
    for q in queries:
        if q.get("target") is None:
            continue
        m = by_id.get(q["target"])
        assert m is not None, (q["id"], q["target"])
        assert m["split"] in ("val", "test"), (q["id"], m["split"])
        assert _relevant(m, q), (q["id"], q["target"])
