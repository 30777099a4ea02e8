"""`python -m backend import …` turns published layouts into a bundle that records the open_clip encoder."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from backend.data.bundle import BundleError, load_bundle
from tests.conftest import REPO
from tests.data.test_importers import write_games, write_museums


def _import(*args):
    return subprocess.run([sys.executable, "-m", "backend", "import", *args, "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_import_museums3k_with_art_expert_and_training(tmp_path):
    write_museums(tmp_path / "data", art=True)
    out = tmp_path / "bundle"
    r = _import("museums3k", "--root", str(tmp_path / "data"), "--out", str(out), "--generalist", "clip",
                "--art-expert", "rn50", "--hicalm-epochs", "1")
    assert r.returncode == 0, r.stderr
    b = load_bundle(out)
    assert b.manifest["encoder"]["type"] == "open_clip" and b.manifest["encoder"]["model"] == "vit-b-32"
    assert b.collection.expert_feats is not None and b.manifest["default_ranker"] == "hicalm"
    assert max(len(m.rooms) for m in b.collection.metaverses) == 40
    assert all(img is None for m in b.collection.metaverses for room in m.rooms for img in room.images)
    assert json.loads(r.stdout)["hicalm_training"]["best_epoch"] >= 0


def test_import_gamingmv_without_training(tmp_path):
    write_games(tmp_path / "data", generalist_dir="mobile_clip")
    out = tmp_path / "bundle"
    r = _import("gamingmv", "--root", str(tmp_path / "data"), "--out", str(out), "--hicalm-epochs", "0")
    assert r.returncode == 0, r.stderr
    b = load_bundle(out)
    assert b.manifest["encoder"]["model"] == "mobileclip-s1" and set(b.manifest["rankers"]) == {"baseline"}
    assert {m.kind for m in b.collection.metaverses} == {"game"}


def test_import_missing_folder_is_a_clear_error(tmp_path):
    r = _import("museums3k", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and "error:" in r.stderr and "nowhere" in r.stderr and "Traceback" not in r.stderr


def test_real_data_bundle_without_weights_says_where_it_looked(tmp_path, monkeypatch):
    write_museums(tmp_path / "data")
    out = tmp_path / "bundle"
    assert _import("museums3k", "--root", str(tmp_path / "data"), "--out", str(out), "--generalist", "clip",
                   "--hicalm-epochs", "0").returncode == 0
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    from backend.service import SearchService
    with pytest.raises(BundleError, match="could not load the encoder 'vit-b-32'.*empty-cache"):
        SearchService.from_bundle(out)


def test_one_and_forty_room_metaverses_through_hicalm_attribution(tmp_path):
    """Imported museums of 1, 2, 3 and 40 rooms: leave-one-room-out and shares work at both extremes."""
    import numpy as np
    from backend.search.attribution import room_shares
    from backend.search.rankers.hicalm import HicalmRanker
    write_museums(tmp_path / "data")
    out = tmp_path / "bundle"
    assert _import("museums3k", "--root", str(tmp_path / "data"), "--out", str(out), "--generalist", "clip",
                   "--hicalm-epochs", "1").returncode == 0
    bundle = load_bundle(out)
    col = bundle.collection
    ranker = HicalmRanker.from_bundle(bundle, encoder=None)  # image-side queries need no text encoder
    qv = ranker.encode_image_feature(col.room_images(0)[0], "a stored image")
    all_idx = list(range(col.n_metaverses))
    loo = ranker.leave_one_room_out(qv, all_idx)
    sizes = sorted(len(col.room_range(m)) for m in all_idx)
    assert sizes == [1, 2, 3, 40]
    for m, scores in zip(all_idx, loo):
        rooms = col.room_range(m)
        assert scores.shape == (len(rooms),)
        shares = room_shares(ranker.room_vecs[rooms.start:rooms.stop] @ qv.room,
                             float(ranker.metaverse_vecs[m] @ qv.metaverse), scores)["contribution"]
        assert abs(shares.sum() - 1) < 1e-6
        if len(rooms) == 1:
            assert np.isnan(scores[0]) and shares[0] == 1.0
