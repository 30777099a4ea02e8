"""OpenClipEncoder: a tiny open_clip model saved by the test and re-loaded through the real offline loading paths."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

open_clip = pytest.importorskip("open_clip")

from backend.encoders.base import Encoder  # noqa: E402
from backend.encoders.openclip import REGISTRY, OpenClipEncoder, OpenClipVariant  # noqa: E402

TINY = "TinyTestViT"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TEXTS = ["a museum of stormy seascapes", "a racing game at night", "x " * 500]  # the last is past 77 tokens


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Register the tiny config, build it with random weights, save a state_dict; return (model, preprocess, dir)."""
    d = tmp_path_factory.mktemp("tiny_cfg")
    (d / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(d / f"{TINY}.json")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=None)
    model.eval()
    torch.save(model.state_dict(), d / "tiny.pt")
    return model, preprocess, d


def _images(n=3):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]


def _reference(model, preprocess, texts, images):
    tok = open_clip.get_tokenizer(TINY)
    with torch.no_grad():
        t = model.encode_text(tok(texts)).numpy()
        i = model.encode_image(torch.stack([preprocess(im) for im in images])).numpy()
    return t / np.linalg.norm(t, axis=1, keepdims=True), i / np.linalg.norm(i, axis=1, keepdims=True)


def _check_matches(enc, tiny):
    model, preprocess, _ = tiny
    images = _images()
    ref_t, ref_i = _reference(model, preprocess, TEXTS, images)
    t, i = enc.encode_text(TEXTS), enc.encode_image(images)
    assert t.dtype == np.float32 and t.shape == (3, 32) and i.shape == (3, 32)
    np.testing.assert_allclose(t, ref_t, atol=1e-5)
    np.testing.assert_allclose(i, ref_i, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)


def test_from_model_interface_and_empty_inputs(tiny):
    model, preprocess, _ = tiny
    enc = OpenClipEncoder.from_model(model, preprocess, open_clip.get_tokenizer(TINY), name="tiny", device="cpu")
    assert isinstance(enc, Encoder) and enc.name == "tiny" and enc.dim == 32
    assert enc.encode_text([]).shape == (0, 32) and enc.encode_image([]).shape == (0, 32)
    _check_matches(enc, tiny)


def test_load_local_file_equals_original(tiny):
    enc = OpenClipEncoder.load(TINY, weights=tiny[2] / "tiny.pt", device="cpu")
    assert enc.dim == 32
    _check_matches(enc, tiny)


def test_load_registry_key_with_dir_holding_one_checkpoint(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "tiny-test", OpenClipVariant(TINY, None))
    (tmp_path / "checkpoint.pt").write_bytes((tiny[2] / "tiny.pt").read_bytes())
    enc = OpenClipEncoder.load("tiny-test", weights=tmp_path, device="cpu")
    assert enc.name == "tiny-test"
    _check_matches(enc, tiny)


def _fake_hf_snapshot(root, repo_id, model):
    """Lay out the HF cache as huggingface_hub does: models--org--name/{refs/main, snapshots/<rev>/...}."""
    from safetensors.torch import save_file

    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    cfg = {"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                                                      "std": list(open_clip.OPENAI_DATASET_STD)}}
    (snap / "open_clip_config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snap / "open_clip_model.safetensors"))
    return snap


def test_load_hf_hub_id_from_offline_cache(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fake_hf_snapshot(tmp_path, "someorg/tiny-openclip", tiny[0])
    enc = OpenClipEncoder.load("hf-hub:someorg/tiny-openclip", device="cpu")
    _check_matches(enc, tiny)


def test_load_snapshot_dir_with_config(tiny, tmp_path):
    snap = _fake_hf_snapshot(tmp_path, "someorg/tiny-openclip", tiny[0])
    enc = OpenClipEncoder.load(TINY, weights=snap, device="cpu")  # config in the dir wins over the arch
    _check_matches(enc, tiny)


def test_missing_weights_in_cache_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ValueError) as e:
        OpenClipEncoder.load("mobileclip-s1", device="cpu")
    msg = str(e.value)
    assert str(tmp_path) in msg and "apple/MobileCLIP-S1-OpenCLIP" in msg and "weights=" in msg
    with pytest.raises(ValueError, match="someorg/missing"):
        OpenClipEncoder.load("hf-hub:someorg/missing", device="cpu")


def test_bad_names_and_paths(tmp_path):
    with pytest.raises(ValueError, match="no-such-model"):
        OpenClipEncoder.load("no-such-model", device="cpu")
    with pytest.raises(ValueError, match="does not exist"):
        OpenClipEncoder.load("vit-b-32", weights=tmp_path / "nope.pt", device="cpu")
    with pytest.raises(ValueError, match="neither"):
        OpenClipEncoder.load("vit-b-32", weights=tmp_path, device="cpu")  # empty dir
    with pytest.raises(ValueError, match="no pretrained tag"):
        OpenClipEncoder.load("ViT-B-16", device="cpu")  # an arch without a tag


def test_registry_tags_exist_in_open_clip():
    known = set(open_clip.list_pretrained())
    for key, v in REGISTRY.items():
        assert (v.arch, v.tag) in known, key


@pytest.mark.skipif(not os.environ.get("RUN_SLOW"), reason="builds full-size models; set RUN_SLOW=1")
@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_registered_variant_forward_pass(key):
    v = REGISTRY[key]
    model, _, preprocess = open_clip.create_model_and_transforms(v.arch, pretrained=None)
    enc = OpenClipEncoder.from_model(model, preprocess, open_clip.get_tokenizer(v.arch), name=key, device="cpu")
    assert enc.encode_text(["a room of seascapes"]).shape == (1, enc.dim)
    assert enc.encode_image(_images(1)).shape == (1, enc.dim)
