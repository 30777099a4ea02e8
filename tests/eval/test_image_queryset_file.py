"""queries/images-v1.jsonl (96 renders at four sizes, report only) is well formed, uses no seed of the world or of
typed-v1.jsonl, has relevant metaverses for every query, and is exactly what its committed generator writes."""
from __future__ import annotations

import importlib.util
import json

from test_queryset_file import REPO, RENDER_SIZES, relevant_ids, world  # noqa: F401  (world is a fixture)

IMAGES = REPO / "queries" / "images-v1.jsonl"


def _queries(path=IMAGES) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_image_set_is_well_formed_and_held_out(world):
    queries = _queries()
    assert len(queries) == 96 and len({q["id"] for q in queries}) == 96
    typed_seeds = {q["image"]["seed"] for q in _queries(REPO / "queries" / "typed-v1.jsonl")
                   if q["type"] == "image" and "seed" in q["image"]}
    seeds = [q["image"]["seed"] for q in queries]
    assert len(set(seeds)) == len(seeds) and not set(seeds) & (world["seeds"] | typed_seeds)
    for q in queries:
        assert q["split"] == "test" and q["type"] == "image" and q["form"] == "render", q["id"]
        assert q["sizes"] == RENDER_SIZES and q["image"]["kind"] == q["kind"], q["id"]
        assert q["rooms"] == [{"subject": q["image"]["subject"], "palette": q["image"]["palette"]}], q["id"]
        assert q["image"]["style"] in world["values"][q["kind"]]["style"], q["id"]
        assert relevant_ids(q, world), f"{q['id']}: no metaverse holds this room"


def test_the_generator_writes_the_committed_file(tmp_path):
    spec = importlib.util.spec_from_file_location("make_image_queries", REPO / "queries" / "make_image_queries.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(out_path=tmp_path / "images.jsonl")
    assert (tmp_path / "images.jsonl").read_text() == IMAGES.read_text()
