"""all-MiniLM-L6-v2 through ONNX Runtime: the same sentence vectors as sentence-transformers, at a third of the cost
for the short texts a query is cut into, and without importing sentence-transformers at start-up.

The graph (BERT, mean pooling over the attention mask, L2 normalisation) is exported once from the wheel's
sentence-transformers model with torch.onnx and cached under backend.paths.CACHE_DIR, keyed by the weights' sha256
and the exporter's versions; tokenisation is the model's own tokenizer.json through the `tokenizers` library.
Measured (2-core CI machine, one thread, 2026-11-30): one short text 3.0 ms instead of 10.4 ms, the ten spans of a
five-word clause 14.0 ms instead of 21.9 ms, cosine to sentence-transformers >= 0.9999997."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np

from backend.paths import cache_file

log = logging.getLogger(__name__)

OPSET = 17
PAD_TOKEN = "[PAD]"
# A batch goes to two cores (two runs at once) only when that saves more than this many padded tokens of the longer
# run: a run's fixed cost is about the work of 12 tokens (2026-12-06, one thread: ~2.5 ms a run, ~0.2 ms a token).
SPLIT_MIN_SAVED_TOKENS = 12


class OnnxUnavailable(RuntimeError):
    """The ONNX path cannot run here (onnxruntime/onnx missing, export failed); the caller falls back to torch."""


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise OnnxUnavailable(f"no model.safetensors or pytorch_model.bin in {str(model_dir)!r}")


def cache_key(model_dir: Path) -> str:
    """sha256 of the weights and the pooling config, plus torch's version and the opset: a new wheel or a new
    exporter gets a new file, never a stale one."""
    import torch
    h = hashlib.sha256()
    with open(_weights_file(model_dir), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    for name in ("1_Pooling/config.json", "sentence_bert_config.json", "tokenizer.json"):
        p = model_dir / name
        h.update(p.read_bytes() if p.is_file() else b"-")
    h.update(f"torch={torch.__version__};opset={OPSET}".encode())
    return h.hexdigest()[:16]


def graph_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the exported graph of model_dir lives in cache_dir (one file per cache_key)."""
    return Path(cache_dir) / f"minilm-{cache_key(Path(model_dir))}.onnx"


def _check_pooling(model_dir: Path) -> None:
    """The graph hard-codes mean pooling + normalisation; refuse a model configured otherwise."""
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise OnnxUnavailable(f"{model_dir}: pooling {modes} is not mean pooling; the ONNX graph only does mean")


def export(model_dir: Path, path: Path) -> None:
    """Export the sentence-transformers model at model_dir to path (written to a temporary file, then renamed, so a
    concurrent reader never sees half a file)."""
    import torch
    from sentence_transformers import SentenceTransformer
    try:
        import onnx  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as e:
        raise OnnxUnavailable("the onnx package is not installed") from e

    _check_pooling(model_dir)
    bert = SentenceTransformer(str(model_dir), device="cpu")[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            tokens = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state   # (B, T, D)
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)                                  # (B, T, 1)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)                           # (B, D)
            return torch.nn.functional.normalize(mean, dim=-1)

    example = (torch.tensor([[101, 2601, 102, 0], [101, 2601, 6138, 102]]), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]))
    with cache_file(path) as tmp, torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the tracer's notes on BERT's shape checks, not ours to act on
        torch.onnx.export(Pooled(bert), example, str(tmp), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}})


class OnnxMiniLM:
    """Sentence vectors of all-MiniLM-L6-v2 from an exported graph: encode(texts) -> (N, 384), rows L2-normalised."""

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise OnnxUnavailable("onnxruntime is not installed") from e
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy cores between queries
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.path = Path(onnx_path)
        max_len = int(json.loads((model_dir / "sentence_bert_config.json").read_text()).get("max_seq_length", 256))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(PAD_TOKEN), pad_token=PAD_TOKEN)
        self.max_seq_length = max_len
        self.dim = int(self.session.get_outputs()[0].shape[1])
        # One request's batch may use a second core, but only while no other encode runs in this process (a
        # concurrent request then has that core) and only at one thread per run (configure_serving_threads).
        self.split_when_idle = int(threads) == 1 and (os.cpu_count() or 1) >= 2
        self._active, self._active_lock = 0, threading.Lock()
        self._helper: Optional[ThreadPoolExecutor] = None
        self.splits = 0                      # batches run as two halves so far (tests, benchmarks)

    @classmethod
    def cached(cls, model_dir: str | Path, cache_dir: str | Path, threads: int = 1) -> "OnnxMiniLM":
        """Load the cached graph for model_dir, exporting it first if it is missing; a file that does not load is
        exported again (the old one is kept beside it as .bad for inspection)."""
        model_dir = Path(model_dir)
        path = graph_path(model_dir, cache_dir)
        if path.is_file():
            try:
                return cls(path, model_dir, threads)
            except OnnxUnavailable:
                raise
            except Exception as e:  # noqa: BLE001  (onnxruntime raises its own exception types for a bad file)
                log.warning("cached text graph %s does not load (%s); exporting it again", path, e)
                os.replace(path, path.with_suffix(".onnx.bad"))
        log.info("exporting the MiniLM text graph to %s (once per machine)", path)
        try:
            export(model_dir, path)
        except OnnxUnavailable:
            raise
        except Exception as e:  # noqa: BLE001
            raise OnnxUnavailable(f"exporting MiniLM to ONNX failed: {e}") from e
        return cls(path, model_dir, threads)

    def encode(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """(N, 384) float32; texts are sorted by length and batched, so padding stays small."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._active_lock:
            self._active += 1
            alone = self._active == 1
        try:
            for start in range(0, len(texts), batch_size):
                rows = order[start:start + batch_size]
                encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
                ids = np.array([e.ids for e in encodings], dtype=np.int64)               # (B, T)
                mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)   # (B, T)
                out[rows] = self._run(ids, mask, split=alone and self.split_when_idle)
        finally:
            with self._active_lock:
                self._active -= 1
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray, split: bool) -> np.ndarray:
        """(B, T) one padded batch -> (B, 384). With split, and where it pays (split_point), its longest rows and
        the rest (padded only to their own longest) run at once on two threads; each row's vector is the same
        either way (padding is masked out)."""
        lengths = mask.sum(1)                                                            # (B,) tokens per row
        by_length = np.argsort(-lengths, kind="stable")
        cut = split_point(lengths[by_length]) if split else None
        if cut is None:
            return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm-half")
        long, short = by_length[:cut], by_length[cut:]
        width = int(lengths[short].max())
        short_run = self._helper.submit(self.session.run, None, {"input_ids": ids[short, :width],
                                                                 "attention_mask": mask[short, :width]})
        out = np.empty((len(ids), self.dim), np.float32)
        out[long] = self.session.run(None, {"input_ids": ids[long], "attention_mask": mask[long]})[0]
        out[short] = short_run.result()[0]
        self.splits += 1
        return out


def split_point(lengths: np.ndarray) -> Optional[int]:
    """Token lengths of a batch, longest first -> the row count k such that rows[:k] and rows[k:], each padded to
    its own longest, cost least when run side by side (the longer run decides), or None when no split saves
    more than SPLIT_MIN_SAVED_TOKENS padded tokens (or the lengths are not longest first)."""
    lengths = np.asarray(lengths, np.int64)
    n = len(lengths)
    if n < 2 or np.any(np.diff(lengths) > 0):
        return None
    k = np.arange(1, n)
    longer = np.maximum(k * lengths[0], (n - k) * lengths[k])                        # (n - 1,) tokens of the longer run
    best = int(np.argmin(longer))
    return int(k[best]) if n * int(lengths[0]) - int(longer[best]) > SPLIT_MIN_SAVED_TOKENS else None
