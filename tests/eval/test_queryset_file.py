"""The hand-written query set queries/typed-v1.jsonl is well formed and agrees with precomputed/metaverses.json.

Reads only the two files (json module, no backend imports), so it stays fast and independent of the code under
test. The relevance rule here is the one queries/README.md states.
"""
from __future__ import annotations

import json
import struct
from collections import Counter, defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUERIES = REPO / "queries" / "typed-v1.jsonl"
WORLD = REPO / "precomputed" / "metaverses.json"
TARGET_SPLIT = {"dev": "val", "test": "test"}  # where each half's targets come from
RENDER_SIZES = [64, 256, 512, 1024]
MAX_PHOTO_BYTES = 30_000


# ---- the relevance rule (kept local on purpose) ---------------------------------------------------------------------
def room_recipe(room: dict) -> dict:
    """A room's recipe: its images' subject and palette, and their style when they all share one (else None)."""
    styles = {img["style"] for img in room["images"]}
    first = room["images"][0]
    return {"subject": first["subject"], "palette": first["palette"], "style": styles.pop() if len(styles) == 1 else None}


def matches(query_room: dict, recipe: dict) -> bool:
    """Every field the query names (subject, palette, style) equals the room recipe's."""
    return all(recipe.get(field) == value for field, value in query_room.items())


def is_relevant(recipes: list[dict], query_rooms: list[dict], ordered: bool) -> bool:
    """Each named room matches a distinct room of the metaverse; with `ordered`, at increasing room indices."""
    def assign(i: int, used: frozenset, last: int) -> bool:
        if i == len(query_rooms):
            return True
        return any(assign(i + 1, used | {j}, j) for j, recipe in enumerate(recipes)
                   if j not in used and (not ordered or j > last) and matches(query_rooms[i], recipe))
    return assign(0, frozenset(), -1)


# ---- fixtures -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [line for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def queries(lines) -> list[dict]:
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def world() -> dict:
    metaverses = json.loads(WORLD.read_text(encoding="utf-8"))
    by_id = {m["id"]: m for m in metaverses}
    recipes = {m["id"]: [room_recipe(r) for r in m["rooms"]] for m in metaverses}
    values: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))  # kind -> field -> values seen
    for m in metaverses:
        for room in m["rooms"]:
            for img in room["images"]:
                for field in ("subject", "palette", "style"):
                    values[m["kind"]][field].add(img[field])
    families = defaultdict(list)  # same set of (subject, palette) rooms: siblings in another order
    for m in metaverses:
        families[frozenset((r["subject"], r["palette"]) for r in recipes[m["id"]])].append(m["id"])
    seeds = {img["seed"] for m in metaverses for room in m["rooms"] for img in room["images"]}
    return {"by_id": by_id, "recipes": recipes, "values": values, "families": families, "seeds": seeds}


def relevant_ids(q: dict, world: dict) -> list[str]:
    return [mid for mid, m in world["by_id"].items()
            if m["kind"] == q["kind"] and is_relevant(world["recipes"][mid], q["rooms"], q["ordered"])]


def order_siblings(target: str, world: dict) -> list[str]:
    recipes = world["recipes"][target]
    key = frozenset((r["subject"], r["palette"]) for r in recipes)
    return [mid for mid in world["families"][key] if mid != target and len(world["recipes"][mid]) == len(recipes)]


# ---- tests ----------------------------------------------------------------------------------------------------------
def test_every_line_parses_and_ids_are_unique(lines, queries):
    assert len(queries) == len(lines)
    ids = [q["id"] for q in queries]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]


def test_fields_and_types(queries):
    for q in queries:
        assert q["split"] in ("dev", "test"), q["id"]
        assert q["type"] in ("text", "image"), q["id"]
        assert q["kind"] in ("museum", "game"), q["id"]
        assert isinstance(q["form"], str) and q["form"], q["id"]
        assert isinstance(q["ordered"], bool), q["id"]
        assert isinstance(q["rooms"], list) and q["rooms"], q["id"]
        for room in q["rooms"]:
            assert "subject" in room and set(room) <= {"subject", "palette", "style"}, q["id"]
        if q["type"] == "text":
            assert q["id"].startswith("q") and isinstance(q["text"], str) and q["text"].strip(), q["id"]
            assert isinstance(q["offvocab"], bool), q["id"]
            if q["target"] is None:  # one-room query
                assert len(q["rooms"]) == 1 and not q["ordered"], q["id"]
            else:  # multi-room query written for one metaverse
                assert 2 <= len(q["rooms"]) <= 4, q["id"]
            assert q["ordered"] == (q["form"] in ("order", "last-one")), q["id"]
        else:
            assert q["id"].startswith("i") and q["target"] is None and not q["ordered"], q["id"]
            assert len(q["rooms"]) == 1 and q["form"] in ("render", "photo"), q["id"]


def test_recipe_values_exist_in_the_data(queries, world):
    for q in queries:
        seen = world["values"][q["kind"]]
        for room in q["rooms"]:
            for field, value in room.items():
                assert value in seen[field], f"{q['id']}: {field}={value!r} never occurs in {q['kind']}s"


def test_targets_exist_in_the_right_split_and_are_relevant(queries, world):
    for q in (q for q in queries if q.get("target")):
        target = world["by_id"].get(q["target"])
        assert target is not None, q["id"]
        assert target["kind"] == q["kind"], q["id"]
        assert target["split"] == TARGET_SPLIT[q["split"]], q["id"]
        assert is_relevant(world["recipes"][q["target"]], q["rooms"], q["ordered"]), f"{q['id']}: target not relevant"


def test_ordered_queries_separate_the_target_from_its_siblings(queries, world):
    ordered = [q for q in queries if q["ordered"]]
    assert len(ordered) >= 20
    for q in ordered:
        siblings = order_siblings(q["target"], world)
        assert siblings, f"{q['id']}: {q['target']} has no same-rooms sibling in another order"
        relevant = set(relevant_ids(q, world))
        assert not relevant & set(siblings), f"{q['id']}: siblings {sorted(relevant & set(siblings))} also fit the order"


def test_every_query_has_a_relevant_metaverse(queries, world):
    for q in queries:
        assert relevant_ids(q, world), q["id"]


def test_counts_and_splits(queries):
    text = [q for q in queries if q["type"] == "text"]
    image = [q for q in queries if q["type"] == "image"]
    assert len(text) >= 120 and len(image) >= 30
    for group in (text, image):
        assert {q["split"] for q in group} == {"dev", "test"}
        assert {q["kind"] for q in group} == {"museum", "game"}
    multi = [q for q in text if q["target"]]
    assert {q["split"] for q in multi} == {"dev", "test"} and len(multi) >= 40
    assert len([q for q in text if q["target"] is None]) >= 40


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return struct.unpack(">II", head[16:24])


def test_image_queries(queries, world):
    for q in (q for q in queries if q["type"] == "image"):
        image = q["image"]
        if q["form"] == "render":
            assert image["kind"] == q["kind"] and isinstance(image["seed"], int) and image["seed"] >= 0, q["id"]
            assert image["seed"] not in world["seeds"], f"{q['id']}: seed {image['seed']} is used in the world"
            assert image["style"] in world["values"][q["kind"]]["style"], q["id"]
            assert {"subject": image["subject"], "palette": image["palette"]} == q["rooms"][0], q["id"]
            assert q["sizes"] == RENDER_SIZES, q["id"]
        else:
            path = REPO / image["path"]
            assert image["path"].startswith("queries/images/") and path.is_file(), q["id"]
            assert path.stat().st_size <= MAX_PHOTO_BYTES, q["id"]
            width, height = _png_size(path)
            assert 256 <= width <= 512 and q["sizes"] == [width], q["id"]
    seeds = [q["image"]["seed"] for q in queries if q["type"] == "image" and q["form"] == "render"]
    assert len(seeds) == len(set(seeds))
