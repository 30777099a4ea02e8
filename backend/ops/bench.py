"""`python -m backend bench`: cold start, query latency (backend and HTTP), concurrency, memory, sizes, install."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from backend.paths import REPO
TEXT_QUERIES = [
    "a museum with a room of stormy seascapes and a room of flower still lifes",
    "dark forests in deep blues",
    "a racing game through a neon city at night",
    "portraits in warm sunset colours",
    "abstract geometry in vivid primaries, then mountains",
    "a dungeon crawler with torch-lit corridors",
]


def _pct(xs: list[float]) -> dict:
    a = np.asarray(xs)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "mean": round(float(a.mean()), 2), "n": len(xs)}


def _machine() -> dict:
    mem_kb = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1), "python": platform.python_version(),
            "platform": platform.platform()}


def cold_start(bundle: Path) -> dict:
    """A fresh interpreter: imports + bundle load + warm-up + first answer."""
    code = ("import time,sys; t=time.perf_counter(); from backend.service import SearchService; "
            f"s=SearchService.from_bundle({str(bundle)!r}); s.search(text='stormy seascapes', k=10); "
            "print(time.perf_counter()-t)")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return {"wall_s": round(time.perf_counter() - t0, 2), "in_process_s": round(float(r.stdout.strip().splitlines()[-1]), 2)}


def typed_texts() -> list[str]:
    """The hand-written text queries of queries/typed-v1.jsonl (both halves: only their timing is used), or none."""
    from backend.eval.queryset import load_queries
    path = REPO / "queries" / "typed-v1.jsonl"
    return [q["text"] for q in load_queries(path) if q["type"] == "text"] if path.exists() else []


def _search_ms(service, ranker: str, queries: list[dict]) -> list[float]:
    """Milliseconds of service.search(**query, k=10) for each query (its search arguments), in order."""
    out = []
    for query in queries:
        t = time.perf_counter()
        service.search(**query, k=10, ranker=ranker)
        out.append((time.perf_counter() - t) * 1000)
    return out


def backend_latency(service, repeats: int) -> dict:
    from backend.world.render import render_image
    out = {}
    refs = [img for m in service.collection.metaverses[:50] for room in m.rooms for img in room.images
            if img and "subject" in img]   # render recipes (a built collection's stored pictures are not)
    images = [render_image(ref, size=256) for ref in refs[:20]] if refs else []
    texts = [{"text": TEXT_QUERIES[i % len(TEXT_QUERIES)] + f" {i}"} for i in range(repeats)]
    uploads = [{"image": images[i % len(images)]} for i in range(max(1, repeats // 2) if images else 0)]
    # a whole description pasted in: ~35 sentences through the encoder
    descriptions = [{"text": "\n\n".join(m.paragraphs)} for m in service.collection.metaverses[:max(10, repeats // 5)]]
    typed = [{"text": t} for t in typed_texts()]   # as visitors type them: 1-4 rooms, with and without separators
    for ranker in service.rankers():
        text_ms, image_ms = _search_ms(service, ranker, texts), _search_ms(service, ranker, uploads)
        description_ms, typed_ms = _search_ms(service, ranker, descriptions), _search_ms(service, ranker, typed)
        out[ranker] = {"text_ms": _pct(text_ms), "image_ms": _pct(image_ms) if image_ms else None,
                       "full_description_ms": _pct(description_ms), "typed_text_ms": _pct(typed_ms) if typed_ms else None}
    return out


def proc_status_mb(pid: int, field: str = "VmHWM") -> float:
    """A memory field of /proc/<pid>/status (VmHWM peak, VmRSS now) in MB; nan when absent."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run_threads(target, n: int, timeout: float | None = None) -> float:
    """target(i) for i in range(n), each in its own thread, all at once; the wall seconds until all are done (or
    until `timeout` per join)."""
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout)
    return time.perf_counter() - t0


def _load(call, clients: int, per_client: int) -> dict:
    """`clients` threads, each making `per_client` calls of call(worker, j, state) with its own state (a client
    object made by call(worker, -1, None)); throughput over the wall time, errors counted."""
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        state = call(n, -1, None)
        for j in range(per_client):
            try:
                call(n, j, state)
                with lock:
                    done[0] += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e)[:200])

    wall = run_threads(worker, clients)
    return {"clients": clients, "requests": done[0], "errors": len(errors), "first_errors": errors[:3],
            "throughput_rps": round(done[0] / wall, 2), "wall_s": round(wall, 2)}


def http_latency(bundle: Path, ranker: str, repeats: int, clients: int = 8, per_client: int = 25) -> dict:
    """Start app.py; time text queries through the named Gradio /search endpoint (gradio_client) and through the
    REST route (GET /api/v1/search, one keep-alive connection per client), alone and with concurrent clients."""
    import httpx
    from gradio_client import Client

    from backend.ops.app_process import running_app

    def gradio_call(n: int, j: int, client):
        if j < 0:
            return Client(url, verbose=False)
        return client.predict(TEXT_QUERIES[(n + j) % len(TEXT_QUERIES)], "all", 10, ranker, api_name="/search")

    def rest_call(n: int, j: int, client):
        if j < 0:
            return httpx.Client(base_url=url, timeout=30)
        r = client.get("/api/v1/search", params={"q": TEXT_QUERIES[(n + j) % len(TEXT_QUERIES)], "k": 10,
                                                 "ranker": ranker})
        r.raise_for_status()
        return r

    with running_app(bundle) as app:
        url, ready_s = app.url, app.started_s
        out = {"app_ready_s": round(ready_s, 2)}
        for name, call in (("gradio", gradio_call), ("rest", rest_call)):
            state = call(0, -1, None)
            lat = []
            for i in range(repeats):
                t = time.perf_counter()
                call(0, i, state)
                lat.append((time.perf_counter() - t) * 1000)
            out[name] = {"text_ms": _pct(lat), "concurrent": _load(call, clients, per_client)}
        out["gradio"]["image_ms"] = _http_image_latency(Client(url, verbose=False), ranker, bundle,
                                                        max(10, repeats // 4))
        out["app_peak_rss_mb"] = proc_status_mb(app.pid)
    return out


def _http_image_latency(client, ranker: str, bundle: Path, n: int):
    """Upload a 256 px PNG rendered from the bundle and search with it through /search_image."""
    from gradio_client import handle_file
    from backend.data.bundle import load_bundle
    from backend.world.render import render_image
    refs = [img for m in load_bundle(bundle, check_hashes=False).collection.metaverses[:5] for room in m.rooms
            for img in room.images if img]
    if not refs:
        return None
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, ref in enumerate(refs[:5]):
            paths.append(Path(d) / f"q{i}.png")
            render_image(ref, size=256).save(paths[-1])
        lat = []
        for i in range(n):
            t = time.perf_counter()
            client.predict(handle_file(str(paths[i % len(paths)])), "all", 10, ranker, api_name="/search_image")
            lat.append((time.perf_counter() - t) * 1000)
    return _pct(lat)


def install_size(requirements: Path = REPO / "requirements.txt") -> dict:
    """Time `pip install -r requirements.txt` into a fresh virtualenv and measure it."""
    with tempfile.TemporaryDirectory(prefix="mvs-install-") as d:
        venv = Path(d) / "venv"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-cache-dir", "-r", str(requirements)],
                       check=True)
        secs = time.perf_counter() - t0
        size = int(subprocess.run(["du", "-sb", str(venv)], capture_output=True, text=True).stdout.split()[0])
    return {"seconds": round(secs, 1), "size_mb": round(size / 2**20, 1)}


def dir_size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20, 2)


def run_bench(bundle: Path, install: bool = False, http: bool = True, repeats: int = 200) -> dict:
    from backend.service import SearchService
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
              "bundle": str(bundle), "bundle_mb": dir_size_mb(bundle)}
    report["cold_start"] = cold_start(bundle)
    service = SearchService.from_bundle(bundle)
    report["backend"] = backend_latency(service, repeats)
    report["backend_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if http:
        report["http"] = http_latency(bundle, service.default_ranker, repeats=min(repeats, 100))
    if install:
        report["install"] = install_size()
    report["goals"] = _goals(report)
    return report


def _goals(r: dict) -> dict:
    """Each goal from the search issue with the measured value and whether it is met."""
    default = next(iter(r["backend"]))
    ranker = "hicalm" if "hicalm" in r["backend"] else default
    b = r["backend"][ranker]
    goals = {
        "text_p50_ms<=30": b["text_ms"]["p50"], "text_p95_ms<=80": b["text_ms"]["p95"],
        "image_p50_ms<=60": (b["image_ms"] or {}).get("p50"), "cold_start_s<=20": r["cold_start"]["wall_s"],
        "peak_rss_mb<=3072": max(r["backend_peak_rss_mb"], r.get("http", {}).get("app_peak_rss_mb", 0)),
        "bundle_mb<=60": r["bundle_mb"],
    }
    if "http" in r:
        goals["gradio_text_p50_ms<=250"] = r["http"]["gradio"]["text_ms"]["p50"]
        goals["rest_text_p50_ms<=60"] = r["http"]["rest"]["text_ms"]["p50"]
        goals["app_ready_s<=10"] = r["http"]["app_ready_s"]
    out = {}
    for k, v in goals.items():
        limit = float(k.split("<=")[1])
        out[k] = {"measured": v, "met": v is not None and v <= limit}
    if "http" in r:
        rps = r["http"]["rest"]["concurrent"]["throughput_rps"]
        out["rest_8_clients_rps>=30"] = {"measured": rps, "met": rps >= 30}
    out["ranker"] = ranker
    return out


if __name__ == "__main__":
    print(json.dumps(run_bench(REPO / "precomputed"), indent=2))
