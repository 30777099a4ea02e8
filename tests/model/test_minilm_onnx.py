"""MiniLM through ONNX Runtime gives sentence-transformers' vectors, caches its exported graph once, recovers from a
damaged cache, and falls back to torch (with a reason) when it cannot run."""
import logging
import shutil
import sys

import numpy as np
import pytest

from backend.device import text_runtime
from backend.encoders import minilm_onnx
from backend.encoders.demo import MiniLMTextEncoder
from backend.encoders.minilm_onnx import OnnxMiniLM, cache_key, graph_path
from backend.paths import CACHE_DIR

TEXTS = ["dark forests", "", "sepia sand dunes pastel mountains grey ruins", "x " * 5000, "café ñandú 東京 🎨",
         "In the first room, ten stormy seascapes in deep blue. The waves break on black rocks.",
         "Ends with a ROOM of SEPIA dunes!", "8-bit amber dungeon"]


@pytest.fixture(scope="module")
def torch_encoder():
    return MiniLMTextEncoder(device="cpu", runtime="torch")


@pytest.fixture(scope="module")
def onnx_encoder():
    enc = MiniLMTextEncoder(device="cpu", runtime="onnx")
    assert enc.runtime == "onnx", "onnxruntime and onnx are in requirements.txt; the ONNX path must run here"
    return enc


def test_onnx_vectors_equal_sentence_transformers(onnx_encoder, torch_encoder):
    a, b = onnx_encoder.encode_text(TEXTS), torch_encoder.encode_text(TEXTS)
    assert a.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.min(np.sum(a * b, axis=1)) > 0.99999          # the same vectors, truncation of the long text included
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    # rows come back in the caller's order although they are batched by length
    single = np.stack([onnx_encoder.encode_text([t])[0] for t in TEXTS])
    assert np.allclose(single, a, atol=1e-5)


def test_batches_of_any_size(onnx_encoder, torch_encoder):
    onnx_encoder_small = MiniLMTextEncoder(device="cpu", runtime="onnx", batch_size=3)
    a = onnx_encoder_small.encode_text(TEXTS)
    assert np.min(np.sum(a * torch_encoder.encode_text(TEXTS), axis=1)) > 0.99999
    assert onnx_encoder.encode_text([]).shape == (0, 384)


def test_the_graph_is_exported_once_and_reused(onnx_encoder, monkeypatch):
    path = graph_path(onnx_encoder.model_dir, CACHE_DIR)
    assert path.is_file() and onnx_encoder.graph_path == path
    monkeypatch.setattr(minilm_onnx, "export", lambda *a: pytest.fail("a cached graph must not be exported again"))
    again = MiniLMTextEncoder(device="cpu", runtime="onnx")
    assert again.runtime == "onnx" and again.model is None   # sentence-transformers is not even loaded


def test_a_damaged_cached_graph_is_exported_again(onnx_encoder, torch_encoder, tmp_path, caplog):
    model_dir = onnx_encoder.model_dir
    path = graph_path(model_dir, tmp_path)
    path.write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING):
        enc = OnnxMiniLM.cached(model_dir, tmp_path)
    assert "does not load" in caplog.text and "exporting it again" in caplog.text
    assert path.with_suffix(".onnx.bad").read_bytes() == b"not an onnx graph"   # kept for inspection
    assert np.min(np.sum(enc.encode(TEXTS[:3]) * torch_encoder.encode_text(TEXTS[:3]), axis=1)) > 0.99999
    assert not list(tmp_path.glob("*.tmp"))                                     # no half-written file left


def test_a_changed_model_gets_a_new_cache_key(onnx_encoder, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(onnx_encoder.model_dir, copy)
    before = cache_key(copy)
    cfg = copy / "sentence_bert_config.json"
    cfg.write_text(cfg.read_text().replace("256", "128"))
    assert cache_key(copy) != before


def test_falls_back_to_torch_with_a_reason(monkeypatch, caplog, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)        # as if the package were not installed
    monkeypatch.setattr("backend.paths.CACHE_DIR", tmp_path)      # nothing cached: the export would be attempted
    monkeypatch.setattr(minilm_onnx, "export", lambda *a: None)
    with caplog.at_level(logging.WARNING):
        enc = MiniLMTextEncoder(device="cpu", runtime="onnx")
    assert enc.runtime == "torch" and "onnxruntime is not installed" in caplog.text
    assert enc.encode_text(["a stormy sea"]).shape == (1, 384)


def test_runtime_choice(monkeypatch):
    monkeypatch.delenv("METAVERSE_TEXT_RUNTIME", raising=False)
    assert text_runtime("cpu") == "onnx" and text_runtime("cuda") == "torch"
    monkeypatch.setenv("METAVERSE_TEXT_RUNTIME", "torch")
    assert text_runtime("cpu") == "torch"
    monkeypatch.setenv("METAVERSE_TEXT_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="allowed: onnx, torch"):
        text_runtime("cpu")


def test_an_unwritable_cache_falls_back_to_torch(monkeypatch, caplog, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setattr("backend.paths.CACHE_DIR", blocked)
    with caplog.at_level(logging.WARNING):
        enc = MiniLMTextEncoder(device="cpu", runtime="onnx")
    assert enc.runtime == "torch" and "exporting MiniLM to ONNX failed" in caplog.text
    assert enc.encode_text(["a stormy sea"]).shape == (1, 384)
    assert blocked.read_text() == "a file where the cache folder should be"     # nothing overwritten


def test_split_point_balances_the_two_runs():
    from backend.encoders.minilm_onnx import split_point
    assert split_point([10, 7, 7, 6, 6, 6, 5, 4]) == 3        # 3 x 10 and 5 x 6 tokens instead of 8 x 10
    assert split_point([6, 6, 6, 6]) is None                   # halves save 12 of 24 tokens: a run's fixed cost
    assert split_point([5, 5]) is None and split_point([9]) is None and split_point([]) is None
    assert split_point([4, 10, 7, 7, 6, 6]) is None            # not longest first


def test_a_batch_split_across_two_cores_gives_the_same_vectors(onnx_encoder):
    """A query's spans, when no other encode is running, go as two runs at once; the vectors are the unsplit ones."""
    onnx = onnx_encoder._onnx
    spans = ["stormy seascapes", "stormy seascapes flower", "stormy seascapes flower still lifes", "seascapes flower",
             "seascapes flower still", "flower still", "flower still lifes", "still lifes"]
    before = onnx.splits
    onnx.split_when_idle = False
    whole = onnx.encode(spans)
    onnx.split_when_idle = True
    split = onnx.encode(spans)
    assert onnx.splits == before + 1
    np.testing.assert_allclose(split, whole, atol=1e-5)
    onnx._active += 1                                          # as if another request were encoding meanwhile
    try:
        np.testing.assert_allclose(onnx.encode(spans), whole, atol=1e-5)
    finally:
        onnx._active -= 1
    assert onnx.splits == before + 1                           # that one kept to its own core
