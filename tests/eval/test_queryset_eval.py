"""eval --queries: the backend's relevance rule agrees with the query file's own checker; scoring runs as served."""
from __future__ import annotations

import json

import pytest

from tests.conftest import REPO

QUERIES = REPO / "queries" / "typed-v1.jsonl"


def test_backend_relevance_agrees_with_the_files_own_checker():
    import test_queryset_file as independent

    from backend.data.bundle import load_bundle
    from backend.eval.queryset import load_queries, relevant_ids, room_recipes
    col = load_bundle(REPO / "precomputed", check_hashes=False).collection
    recipes = [room_recipes(col, m) for m in range(col.n_metaverses)]
    metaverses = json.loads((REPO / "precomputed" / "metaverses.json").read_text())
    their_recipes = {m["id"]: [independent.room_recipe(r) for r in m["rooms"]] for m in metaverses}
    queries = load_queries(QUERIES)
    assert len(queries) >= 150
    for q in queries:
        theirs = {m["id"] for m in metaverses if m["kind"] == q["kind"]
                  and independent.is_relevant(their_recipes[m["id"]], q["rooms"], q["ordered"])}
        assert relevant_ids(col, q, recipes) == theirs, q["id"]


def test_bad_query_file_names_the_line(tmp_path):
    from backend.eval.queryset import load_queries
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "a", "split": "dev", "type": "text", "kind": "museum", "rooms": []}\n{"id": "b"\n')
    with pytest.raises(ValueError, match="q.jsonl:2: not JSON"):
        load_queries(bad)


def test_eval_queries_on_the_tiny_bundle(service, tmp_path):
    from backend.eval.queryset import evaluate_queries, room_recipes
    col = service.collection
    m = next(i for i, x in enumerate(col.metaverses) if x.kind == "museum" and len(x.rooms) >= 2)
    r0, r1 = room_recipes(col, m)[:2]
    queries = [
        {"id": "a", "split": "dev", "type": "text", "kind": "museum", "form": "commas", "ordered": True,
         "target": col.metaverses[m].id, "text": f"{r0['subject']} in {r0['palette']}, then {r1['subject']}",
         "rooms": [{"subject": r0["subject"], "palette": r0["palette"]}, {"subject": r1["subject"]}]},
        {"id": "b", "split": "dev", "type": "text", "kind": "museum", "form": "terse", "ordered": False,
         "target": None, "text": r0["subject"], "rooms": [{"subject": r0["subject"]}]},
        {"id": "c", "split": "test", "type": "image", "kind": "museum", "form": "render", "ordered": False,
         "target": None, "image": col.metaverses[m].rooms[0].images[0], "sizes": [64, 256],
         "rooms": [{"subject": r0["subject"]}]},
    ]
    report = evaluate_queries(service, queries, split="all")
    for ranker in ("baseline", "hicalm"):
        groups = report["rankers"][ranker]
        assert {"multi_room", "ordered", "one_room", "image@64", "image@256"} <= set(groups)
        assert groups["one_room"]["P@10"] > 0          # the subject itself finds metaverses holding it
        assert 0 <= groups["ordered"]["above_siblings"] <= 1
        lo, hi = groups["one_room"]["ci95"]["P@10"] or (None, None)
        assert groups["one_room"]["ci95"]["P@10"] is None or lo <= groups["one_room"]["P@10"] <= hi
        assert groups["multi_room"]["ci95"]["R@1"] is None     # one query: no interval, rather than a false one
    diff = report["differences"]
    assert set(diff["vs_baseline"]["hicalm"]["one_room"]) == {"P@10", "nDCG@10", "R@10", "hit@10"}
    assert diff["vs_baseline"]["hicalm"]["one_room"]["P@10"]["diff"] == pytest.approx(
        report["rankers"]["hicalm"]["one_room"]["P@10"] - report["rankers"]["baseline"]["one_room"]["P@10"], abs=1e-3)
    assert set(diff["image_size_vs_64"]["hicalm"]) == {"image@256"}
    assert json.dumps(report)


def test_kind_named_queries_are_scored_by_their_first_hit(service):
    from backend.eval.queryset import evaluate_queries
    game = next(m for m in service.collection.metaverses if m.kind == "game")
    subject = game.rooms[0].images[0]["subject"]
    queries = [{"id": "g", "split": "dev", "type": "text", "kind": "game", "kind_named": True, "ordered": False,
                "target": None, "text": f"a game with {subject}", "rooms": [{"subject": subject}]},
               {"id": "n", "split": "dev", "type": "text", "kind": "game", "kind_named": False, "ordered": False,
                "target": None, "text": subject, "rooms": [{"subject": subject}]}]
    groups = evaluate_queries(service, queries, split="dev", rankers=["hicalm"])["rankers"]["hicalm"]
    assert groups["kind_named"]["n"] == 1 and groups["kind_named"]["first_hit_of_kind"] == 1.0
    assert groups["kind_read"]["n"] == 2 and groups["kind_read"]["right"] == 1.0


def test_strip_separators_and_the_eval_option(service):
    from backend.eval.queryset import evaluate_queries, strip_separators
    assert strip_separators("grey seas, pastel flowers and sepia dunes; plus ruins. Then stars") == \
        "grey seas pastel flowers sepia dunes ruins stars"
    assert strip_separators("Sandy beach") == "Sandy beach"          # "and" inside a word stays
    q = {"id": "a", "split": "dev", "type": "text", "kind": "museum", "ordered": False, "target": None,
         "text": "forest, and ruins", "rooms": [{"subject": "forest"}]}
    report = evaluate_queries(service, [q], split="dev", rankers=["hicalm"], separators="strip")
    assert report["separators"] == "strip" and report["rankers"]["hicalm"]["one_room"]["n"] == 1
    with pytest.raises(ValueError, match="separators"):
        evaluate_queries(service, [q], separators="none")
