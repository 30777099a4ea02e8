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


def configure_serving_threads() -> int:
    """Threads per request for serving on CPU: one (env METAVERSE_TORCH_THREADS overrides), for torch, ONNX Runtime
    (the text encoder reads torch's setting), faiss's OpenMP and the BLAS libraries, for the life of the process.

    Queries are small (one text, ~70 leave-one-room-out sequences); on the 2-core target machine two threads per
    op doubled p95 latency through scheduling jitter, and one thread leaves the other core to a concurrent request.
    faiss and numpy's OpenBLAS had been left at two: pinning them too took REST throughput with 8 clients from
    39-40 to 61-63 req/s (BENCHMARKS.md, 2026-12-01). One exception, coarse enough to pay: while no other text
    encode runs, ONNX MiniLM runs one request's batch as two single-thread runs at once (OnnxMiniLM.split_when_idle)."""
    import os
    threads = max(1, int(os.environ.get("METAVERSE_TORCH_THREADS", "1")))
    if not torch.cuda.is_available():
        torch.set_num_threads(threads)
    _library_threads(threads)
    return torch.get_num_threads()


def _library_threads(n: int):
    """faiss's OpenMP and every loaded BLAS at n threads; -> an object whose restore_original_limits() undoes BLAS's
    (threadpoolctl), or None without threadpoolctl. faiss is imported first, so its own OpenBLAS is covered."""
    import faiss
    faiss.omp_set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:   # pragma: no cover  (requirements.txt has it)
        return None
    return threadpool_limits(n, user_api="blas")


@contextlib.contextmanager
def limited_library_threads(n: int) -> Iterator[None]:
    """faiss and BLAS at n threads inside the block, restored after (for a benchmark that measures one setting)."""
    import faiss
    before = faiss.omp_get_max_threads()
    blas = _library_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
        if blas is not None:
            blas.restore_original_limits()


TEXT_RUNTIMES = ("onnx", "torch")


def text_runtime(device: str) -> str:
    """How MiniLM runs: "onnx" (ONNX Runtime) on CPU when onnxruntime is installed, else "torch" (CUDA, fp16 there);
    env METAVERSE_TEXT_RUNTIME forces one. Same vectors either way (cosine >= 0.9999997); ONNX is ~3x cheaper per
    short text on CPU (backend/encoders/minilm_onnx.py)."""
    import importlib.util
    import os
    forced = os.environ.get("METAVERSE_TEXT_RUNTIME")
    if forced:
        if forced not in TEXT_RUNTIMES:
            raise ValueError(f"METAVERSE_TEXT_RUNTIME={forced!r}; allowed: {', '.join(TEXT_RUNTIMES)}")
        return forced
    if torch.device(device).type != "cpu" or importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx"
