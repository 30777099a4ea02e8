"""An add costs the same with many additions stored as with a few (counted: files hashed, vectors given to the
indexes, no rebuild), the appended view answers as a full rebuild does, and a folder of specs goes in with one view
swap, a bad spec skipped with its reason."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from backend.ops.bench_add import generated_spec
from backend.paths import REPO
from tests.grow.conftest import grown


def test_an_add_hashes_and_indexes_only_its_own_rows_however_many_are_stored(base, tmp_path):
    svc = grown(base, tmp_path / "store")
    dim = base.encoder.dim
    work = {}
    n = 0
    for size in (5, 60):
        svc.grow.add_many([(i, generated_spec(i, dim), None) for i in range(n, size)])
        n = size
        svc.grow.add(generated_spec(n, dim))
        work[size] = dict(svc.grow.last_work)
        n += 1
    # 2 files (metaverse.json, arrays.npz: features, no kept images); 1 metaverse + 2 rooms in each of 2 rankers
    rankers = len(base.engine.rankers)
    assert work[5] == work[60] == {"files_hashed": 2, "vectors_indexed": 3 * rankers, "rows_added": 1,
                                   "rebuilt": False}
    assert svc.collection.n_metaverses == base.collection.n_metaverses + 61


def test_the_appended_view_answers_as_a_rebuild_does(base, tmp_path):
    store = tmp_path / "store"
    svc = grown(base, store)
    dim = base.encoder.dim
    for i in range(4):
        svc.grow.add(generated_spec(i, dim))
    rebuilt = grown(base, store)                                  # a new process: one view over every addition
    assert rebuilt.grow.last_work["files_hashed"] == 8            # a restart checks every stored file once
    for kind in ("all", "museum", "game"):
        for ranker in base.engine.rankers:
            a = svc.search(text="Room 2 of world 3.", k=20, kind=kind, ranker=ranker)["results"]
            b = rebuilt.search(text="Room 2 of world 3.", k=20, kind=kind, ranker=ranker)["results"]
            assert [h["id"] for h in a] == [h["id"] for h in b]
            assert np.allclose([h["score"] for h in a], [h["score"] for h in b], atol=1e-4)
    like = svc.search(metaverse_ids=["bench-0-00002"], k=5)["results"]
    assert [h["id"] for h in like] == [h["id"] for h in rebuilt.search(metaverse_ids=["bench-0-00002"],
                                                                        k=5)["results"]]
    placed = svc.explore.map_json(level="metaverse")["params"].get("placed")
    assert placed == rebuilt.explore.map_json(level="metaverse")["params"].get("placed") == 4
    svc.grow.remove("bench-0-00001")                              # a removal rebuilds, from what is in memory
    assert svc.grow.last_work["rebuilt"] and svc.grow.last_work["files_hashed"] == 0
    assert "bench-0-00001" not in svc.grow.status()["added"] and len(svc.grow.status()["added"]) == 3
    svc.grow.add(generated_spec(9, dim))                          # and adds append again after it
    assert not svc.grow.last_work["rebuilt"]


def test_another_process_adding_costs_the_running_app_only_the_new_files(base, tmp_path, monkeypatch):
    store = tmp_path / "store"
    running, writer = grown(base, store), grown(base, store)
    dim = base.encoder.dim
    writer.grow.add_many([(i, generated_spec(i, dim), None) for i in range(10)])
    running.grow.refresh()
    writer.grow.add(generated_spec(10, dim))
    running.grow.refresh()
    assert running.grow.last_work["files_hashed"] == 2 and not running.grow.last_work["rebuilt"]
    assert len(running.grow.status()["added"]) == 11


def test_a_folder_of_specs_goes_in_with_one_swap_and_bad_ones_skipped(base, tmp_path):
    svc = grown(base, tmp_path / "store")
    swaps = []
    swap = svc.grow._swap
    svc.grow._swap = lambda view: (swaps.append(view), swap(view))
    dim = base.encoder.dim
    bad_kind = {**generated_spec(2, dim), "kind": "castle"}
    taken = {**generated_spec(3, dim), "id": base.collection.metaverses[0].id}
    twice = generated_spec(0, dim)
    out = svc.grow.add_many([("a.json", generated_spec(0, dim), None), ("b.json", generated_spec(1, dim), None),
                             ("c.json", bad_kind, None), ("d.json", taken, None), ("e.json", twice, None),
                             ("f.json", ValueError("f.json: cannot read the spec"), None)])
    assert out["added"] == ["bench-0-00000", "bench-0-00001"] and out["searchable"]
    reasons = {s["spec"]: s["reason"] for s in out["skipped"]}
    assert sorted(reasons) == ["c.json", "d.json", "e.json", "f.json"]
    assert reasons["c.json"].startswith("'kind' must be one of") and "part of the bundle" in reasons["d.json"]
    assert reasons["e.json"].startswith("id 'bench-0-00000' is also the id of a.json")
    assert reasons["f.json"] == "f.json: cannot read the spec"
    assert len(swaps) == 1 and swaps[0].added == ("bench-0-00000", "bench-0-00001")
    again = svc.grow.add_many([("a.json", generated_spec(0, dim), None)])   # stored already: refused by the store
    assert again["added"] == [] and "already exists" in again["skipped"][0]["reason"]


def test_add_dir_from_the_command_line(tiny_bundle, tmp_path):
    import os
    folder = tmp_path / "specs"
    folder.mkdir()
    dim = json.loads((tiny_bundle / "manifest.json").read_text())["encoder"]["dim"]
    for i in range(3):
        (folder / f"{i}.json").write_text(json.dumps(generated_spec(i, dim)))
    (folder / "broken.json").write_text("{not json")
    out = subprocess.run([sys.executable, "-m", "backend", "add", "--dir", str(folder), "--bundle", str(tiny_bundle)],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "METAVERSE_ADDITIONS": str(tmp_path / "store")})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["added"] == [f"bench-0-0000{i}" for i in range(3)]
    assert [s["spec"] for s in report["skipped"]] == [str(folder / "broken.json")]


def test_a_bulk_add_that_fails_half_way_writes_nothing(base, tmp_path, monkeypatch):
    """The index is replaced once, after every folder is written: a failure (or a kill) before it leaves the old
    index, and the folders already written are swept by the next write."""
    import backend.grow.store as store_mod
    store = tmp_path / "store"
    svc = grown(base, store)
    dim = base.encoder.dim
    calls = []
    savez = store_mod.np.savez

    def third_fails(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return savez(*a, **k)
    monkeypatch.setattr("backend.grow.store.np.savez", third_fails)
    with pytest.raises(OSError, match="disk full"):
        svc.grow.add_many([(i, generated_spec(i, dim), None) for i in range(5)])
    monkeypatch.undo()
    assert svc.grow.status()["added"] == [] and not (store / "index.json").exists()
    svc.grow.add(generated_spec(7, dim))
    assert sorted(p.name.split(".")[0] for p in store.iterdir() if p.is_dir()) == ["bench-0-00007"]
