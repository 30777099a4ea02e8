"""The bundle on disk: round trip, and every kind of damage names the file and the rebuild command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from backend.data.bundle import REBUILD_HINT, BundleError, load_bundle


def test_roundtrip(tiny_bundle):
    b = load_bundle(tiny_bundle)
    assert b.collection.n_metaverses == 34
    assert b.manifest["counts"]["museums"] == 24 and b.manifest["counts"]["games"] == 10
    assert b.collection.image_feats.dtype == np.float32
    assert set(b.manifest["rankers"]) == {"baseline", "hicalm"}


def test_missing_directory(tmp_path):
    with pytest.raises(BundleError, match="does not exist") as e:
        load_bundle(tmp_path / "nope")
    assert REBUILD_HINT in str(e.value)


def test_missing_manifest(bundle_copy):
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest.json is missing") as e:
        load_bundle(bundle_copy)
    assert REBUILD_HINT in str(e.value)


def test_partial_bundle_names_the_file(bundle_copy):
    (bundle_copy / "sentence_embs.npy").unlink()
    with pytest.raises(BundleError, match=r"sentence_embs\.npy is missing.*partial") as e:
        load_bundle(bundle_copy)
    assert REBUILD_HINT in str(e.value)


def test_corrupt_artifact(bundle_copy):
    p = bundle_copy / "image_feats.npy"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"image_feats\.npy does not match its sha256"):
        load_bundle(bundle_copy)


def test_truncated_artifact(bundle_copy):
    p = bundle_copy / "metaverses.json"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"metaverses\.json has \d+ bytes, the manifest says"):
        load_bundle(bundle_copy)


def test_encoder_dimension_mismatch(bundle_copy):
    m = json.loads((bundle_copy / "manifest.json").read_text())
    m["encoder"]["dim"] = 512
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="dimension 384 but the encoder .* has 512"):
        load_bundle(bundle_copy)


def test_wrong_format_version(bundle_copy):
    m = json.loads((bundle_copy / "manifest.json").read_text())
    m["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="format_version 99"):
        load_bundle(bundle_copy)


def test_service_refuses_mismatched_bundle(bundle_copy):
    from backend.service import SearchService
    (bundle_copy / "image_tower.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BundleError, match="image_tower.pt"):
        SearchService.from_bundle(bundle_copy)
