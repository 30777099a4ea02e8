"""The encoder interface every backend (demo, open_clip) implements."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    name: str
    dim: int

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """(N, dim) float32, rows L2-normalised."""

    def encode_image(self, images: list) -> np.ndarray:
        """(N, dim) float32 from PIL images, rows L2-normalised."""


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)
