"""Device and precision decided in one place: CPU/fp32 by default, CUDA and half precision when present."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch


def pick_device(prefer: Optional[str] = None) -> torch.device:
    """CUDA when available, else CPU; `prefer` ("cpu" | "cuda") forces one (ValueError if CUDA is asked but absent)."""
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {prefer!r}; allowed: 'cpu', 'cuda' or None (auto)")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False; use 'cpu' or None")
    return torch.device(prefer)


def serving_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA, float32 on CPU."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """Mixed precision on CUDA; a no-op on CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.float16):
            yield
    else:
        yield


def gpu_task(fn):
    """Run fn under the `spaces` package's @spaces.GPU on a ZeroGPU Space (SPACES_ZERO_GPU set); unchanged elsewhere."""
    import os
    if os.environ.get("SPACES_ZERO_GPU"):
        import spaces
        return spaces.GPU(fn)
    return fn
