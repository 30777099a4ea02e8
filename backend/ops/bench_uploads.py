"""Peak memory of the app while clients upload the largest images it accepts at the same time (`bench-uploads`).

Each client uploads one PNG of just under MAX_MEGAPIXELS (and under the 10 MB upload limit: a smooth pattern that
PNG compresses well, RGBA so the decoder holds 4 bytes a pixel) through the named Gradio endpoint /search_image, all
at once; the app's VmHWM (peak RSS) is read before and after. Gradio's queue runs two of one event at a time, so
the same decode is also timed in `clients` threads of a bare interpreter, the worst case of several events at once."""
from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def make_large_png(path: Path, megapixels: float, mode: str = "RGBA") -> Path:
    """A square PNG of about `megapixels`, smooth enough to stay a few MB."""
    from PIL import Image
    side = int(math.sqrt(megapixels * 1_000_000))
    ramp = (np.arange(side, dtype=np.uint32) * 255 // max(1, side - 1)).astype(np.uint8)
    r = np.broadcast_to(ramp[None, :], (side, side))
    g = np.broadcast_to(ramp[:, None], (side, side))
    b = np.full((side, side), 90, np.uint8)
    planes = [r, g, b] + ([np.full((side, side), 255, np.uint8)] if mode == "RGBA" else [])
    Image.fromarray(np.ascontiguousarray(np.stack(planes, axis=-1)), mode).save(path, optimize=False, compress_level=9)
    return path


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would start at its parent's peak.
_DIRECT = """
import os, sys, threading
from backend.data.images import load_query_image
from backend.ops.bench import proc_status_mb
before = proc_status_mb(os.getpid(), "VmHWM")
done = []
def one():
    done.append(load_query_image(sys.argv[1]).size)
threads = [threading.Thread(target=one) for _ in range(int(sys.argv[2]))]
[t.start() for t in threads]
[t.join() for t in threads]
assert len(done) == len(threads), "a decode failed"
print(round(proc_status_mb(os.getpid(), "VmHWM") - before, 1))
"""


def direct_decode_growth_mb(png: Path, threads: int) -> float:
    """Peak RSS growth of a fresh interpreter decoding `png` in `threads` threads at once, with no queue in front:
    the bound the decode slots give whatever route the images come by."""
    import subprocess
    import sys

    from backend.paths import REPO
    out = subprocess.run([sys.executable, "-c", _DIRECT, str(png), str(threads)], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run_uploads(bundle: Path, clients: int = 6, megapixels: float | None = None) -> dict:
    from gradio_client import Client, handle_file

    from backend.data.images import MAX_MEGAPIXELS
    from backend.ops.app_process import running_app
    from backend.ops.bench import proc_status_mb

    megapixels = megapixels or MAX_MEGAPIXELS - 0.5
    with tempfile.TemporaryDirectory() as tmp:
        png = make_large_png(Path(tmp) / "large.png", megapixels)
        png_mb = round(png.stat().st_size / 2**20, 2)
        direct = direct_decode_growth_mb(png, clients)
        with running_app(bundle, log_path=Path(tmp) / "app.log") as app:
            warm = Client(app.url, verbose=False)
            warm.predict("a museum of seascapes", "all", 5, "", api_name="/search")   # load the models first
            before = proc_status_mb(app.pid, "VmHWM")
            results: list = [None] * clients
            barrier = threading.Barrier(clients)

            def one(i: int) -> None:
                client = Client(app.url, verbose=False)
                barrier.wait()
                t0 = time.perf_counter()
                try:
                    out = client.predict(handle_file(str(png)), "all", 5, "", api_name="/search_image")
                    results[i] = {"ok": bool(out.get("results")), "s": round(time.perf_counter() - t0, 2)}
                except Exception as exc:   # reported, not raised: the figure is the memory
                    results[i] = {"ok": False, "error": str(exc)[:200]}

            threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=600)
            peak = proc_status_mb(app.pid, "VmHWM")
    from datetime import datetime, timezone

    from backend.ops.bench import _machine
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
            "clients": clients, "image": {"megapixels": round(megapixels, 1), "mode": "RGBA",
                                          "png_mb": png_mb},
            "decode_threads_peak_growth_mb": direct, "peak_rss_mb_before": before, "peak_rss_mb": peak, "answered": sum(bool(r and r["ok"]) for r in results),
            "per_client": results}
