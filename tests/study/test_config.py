"""Study configs: the demo study loads, every bad field is refused by name, and the task assignment is balanced."""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from backend.study.config import Scale, StudyConfig, Task, assign_tasks, load_study, study_from_dict

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "studies" / "demo-study.yaml"


def minimal(**over) -> dict:
    d = {"name": "s1", "consent": "ok?", "tasks": [{"id": "t1", "type": "judge", "query": "pastel harbours"},
                                                   {"id": "t2", "type": "describe", "target": "museum-0003"}]}
    d.update(over)
    return d


def test_demo_study_loads():
    cfg = load_study(DEMO)
    assert cfg.name == "demo-study" and cfg.k == 10 and cfg.tasks_per_participant == 4 and cfg.overlap == 2
    assert Counter(t.type for t in cfg.tasks) == {"judge": 6, "describe": 2}
    assert cfg.rankers == ("hicalm", "baseline") and cfg.scale == Scale() and cfg.room_judgements is False
    assert cfg.participants_needed == 4
    assert "a museum with stormy seascapes and a room of portraits" in [t.query for t in cfg.tasks]


def test_demo_study_targets_exist_in_the_bundle():
    path = REPO / "precomputed" / "metaverses.json"
    if not path.exists():
        pytest.skip("no precomputed bundle")
    ids = {m["id"] for m in json.loads(path.read_text())}
    cfg = load_study(DEMO, metaverse_ids=ids)
    assert all(t.target in ids for t in cfg.tasks if t.type == "describe")
    with pytest.raises(ValueError, match="not metaverses of the collection"):
        load_study(DEMO, metaverse_ids={"museum-0000"})


def test_json_round_trip_and_defaults(tmp_path):
    cfg = study_from_dict(minimal())
    assert (cfg.rankers, cfg.k, cfg.scale.grades, cfg.tasks_per_participant, cfg.overlap, cfg.seed, cfg.title) == \
        (("hicalm", "baseline"), 10, [0, 1, 2, 3], 2, 1, 0, "s1")
    demo = load_study(DEMO)
    p = tmp_path / "demo.json"
    p.write_text(json.dumps(demo.to_dict()))
    assert load_study(p) == demo
    assert demo.task("describe-game-0007").instructions.startswith("Walk through")
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        demo.task("nope")


BAD = [
    (dict(colour="red"), r"unknown key\(s\) \['colour'\]"),
    (dict(tasks=[{"id": "t1", "type": "judge", "query": "x", "weight": 2}]), r"unknown key\(s\) \['weight'\]"),
    (dict(tasks=[{"id": "t1", "type": "judge", "query": "x"}, {"id": "t1", "type": "judge", "query": "y"}]),
     "duplicate task id 't1'"),
    (dict(k=0), r"k = 0 is not allowed: an integer in 1..50"),
    (dict(k=51), r"k = 51"),
    (dict(k="10"), r"k = '10'"),
    (dict(overlap=0), r"overlap = 0 is not allowed"),
    (dict(tasks_per_participant=3), r"tasks_per_participant = 3 is not allowed: an integer in 1..2"),
    (dict(name="Demo Study"), "study name 'Demo Study' is not a slug"),
    (dict(name="-x"), "not a slug"),
    (dict(rankers=["hicalm", "hicalm"]), "two different ranker names"),
    (dict(rankers=["a", "b", "c"]), "two different ranker names"),
    (dict(scale={"min": 0, "max": 3, "labels": ["no", "yes"]}), "give exactly 4 labels"),
    (dict(scale={"min": 2, "max": 2, "labels": ["x"]}), "must be greater than scale.min"),
    (dict(scale={"min": 0, "max": 1, "words": []}), r"unknown key\(s\) \['words'\]"),
    (dict(room_judgements="yes"), "room_judgements = 'yes'"),
    (dict(seed=1.5), "seed = 1.5"),
    (dict(consent="  "), "consent"),
    (dict(tasks=[]), "tasks must be a non-empty list"),
    (dict(tasks=[{"id": "t1", "type": "judge"}]), "task 't1': query"),
    (dict(tasks=[{"id": "t1", "type": "judge", "query": "x", "target": "museum-0001"}]), "a judge task has a query"),
    (dict(tasks=[{"id": "t1", "type": "describe"}]), "a describe task needs target"),
    (dict(tasks=[{"id": "t1", "type": "describe", "target": "m", "query": "x"}]), "has no fixed query"),
    (dict(tasks=[{"id": "t1", "type": "rank", "query": "x"}]), r"type 'rank' is not one of \['judge', 'describe'\]"),
    (dict(tasks=[{"id": "T 1", "type": "judge", "query": "x"}]), "task id 'T 1' is not allowed"),
    (dict(tasks=[{"id": "a.b", "type": "judge", "query": "x"}]), "task id 'a.b' is not allowed"),
    (dict(tasks=[{"type": "judge", "query": "x"}]), "needs an id and a type"),
]


@pytest.mark.parametrize("over,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_fields_are_named(over, message):
    with pytest.raises(ValueError, match=message):
        study_from_dict(minimal(**over))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ValueError, match="missing required key 'consent'"):
        study_from_dict({"name": "s", "tasks": minimal()["tasks"]})
    with pytest.raises(ValueError, match=r"must end in \.yaml, \.yml or \.json"):
        load_study(tmp_path / "s.toml")
    with pytest.raises(ValueError, match="does not exist"):
        load_study(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="does not parse"):
        load_study(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_study(lst)


def test_direct_construction_validates_too():
    with pytest.raises(ValueError, match="duplicate task id"):
        StudyConfig(name="s", consent="c", tasks=(Task("t", "judge", "q"), Task("t", "judge", "r")))
    assert StudyConfig(name="s", consent="c", tasks=[Task("t", "judge", "q")]).tasks_per_participant == 1


def _config(n_tasks: int, tpp: int, overlap: int = 2, seed: int = 0) -> StudyConfig:
    tasks = tuple(Task(f"t{i:02d}", "judge", f"query {i}") for i in range(n_tasks))
    return StudyConfig(name="balance", consent="c", tasks=tasks, tasks_per_participant=tpp, overlap=overlap, seed=seed)


@pytest.mark.parametrize("n_tasks,tpp", [(8, 4), (7, 3), (10, 4), (5, 5), (6, 1), (12, 5), (3, 2)])
@pytest.mark.parametrize("seed", [0, 11])
def test_assignment_is_balanced_after_every_participant(n_tasks, tpp, seed):
    cfg = _config(n_tasks, tpp, seed=seed)
    counts = Counter({t: 0 for t in cfg.task_ids})
    for n in range(1, 61):
        tasks = assign_tasks(cfg, n - 1)
        assert len(tasks) == tpp and len(set(tasks)) == tpp and set(tasks) <= set(cfg.task_ids)
        assert assign_tasks(cfg, n - 1) == tasks                       # deterministic
        counts.update(tasks)
        lo, hi = (n * tpp) // n_tasks, math.ceil(n * tpp / n_tasks)
        assert set(counts.values()) <= {lo, hi}, (n, counts)


@pytest.mark.parametrize("n_tasks,tpp,overlap", [(8, 4, 2), (7, 3, 2), (10, 4, 3), (6, 1, 1), (9, 4, 5)])
def test_every_task_reaches_its_overlap_at_participants_needed(n_tasks, tpp, overlap):
    cfg = _config(n_tasks, tpp, overlap)
    needed = cfg.participants_needed
    assert needed == math.ceil(overlap * n_tasks / tpp)
    counts = Counter(t for i in range(needed) for t in assign_tasks(cfg, i))
    assert min(counts[t] for t in cfg.task_ids) >= overlap
    before = Counter(t for i in range(needed - 1) for t in assign_tasks(cfg, i))
    assert min(before[t] for t in cfg.task_ids) < overlap               # not one participant earlier


def test_assignment_varies_with_seed_and_rotates_positions():
    a, b = _config(8, 4, seed=1), _config(8, 4, seed=2)
    assert [assign_tasks(a, i) for i in range(8)] != [assign_tasks(b, i) for i in range(8)]
    rounds = [assign_tasks(a, i) for i in range(0, 40)]
    assert len({tuple(sorted(r)) for r in rounds}) > 2                   # co-assigned tasks change across rounds
    firsts = Counter(r[0] for r in rounds)
    assert len(firsts) == 8                                               # every task is shown first to someone
    with pytest.raises(ValueError, match="participant_index = -1"):
        assign_tasks(a, -1)
