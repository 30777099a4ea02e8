"""Soak test: the app under steady load (8 clients, then 32, then past the queue limit), RSS sampled every second,
latency and errors per phase; a bounded, flat memory line is the goal."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from backend.ops.bench import TEXT_QUERIES, _machine, _pct, proc_status_mb, run_threads
from backend.paths import REPO


def _rss_mb(pid: int) -> float:
    return proc_status_mb(pid, "VmRSS")


def _phase(url: str, clients: int, seconds: float, k: int, min_requests: int = 0, cap_s: float | None = None,
           client_timeout_s: float | None = None) -> dict:
    """`clients` gradio_client sessions calling /search back to back for `seconds` (each its own session), and on
    until `min_requests` are answered or `cap_s` seconds have passed (a test counts answers, not seconds: on a busy
    machine 4 s may answer none). client_timeout_s: httpx's timeout for the clients (its default is 5 s)."""
    from gradio_client import Client
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    stop, cap = t0 + seconds, t0 + max(seconds, cap_s or 0)
    httpx_kwargs = {"timeout": client_timeout_s} if client_timeout_s else None

    def go_on() -> bool:
        now = time.perf_counter()
        return now < stop or (len(lat) < min_requests and now < cap)

    def worker(n: int) -> None:
        try:
            c = Client(url, verbose=False, httpx_kwargs=httpx_kwargs)
        except Exception as e:  # noqa: BLE001 - counted
            with lock:
                errors.append(repr(e)[:160])
            return
        j = 0
        while go_on():
            t = time.perf_counter()
            try:
                c.predict(f"{TEXT_QUERIES[(n + j) % len(TEXT_QUERIES)]} {n}-{j}", "all", k, "", api_name="/search")
                with lock:
                    lat.append((time.perf_counter() - t) * 1000)
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(str(e)[:160])
            j += 1

    wall = run_threads(worker, clients, timeout=max(seconds, cap_s or 0) + 120)
    return {"clients": clients, "seconds": round(wall, 1), "requests": len(lat), "errors": len(errors),
            "first_errors": sorted(set(errors))[:3], "throughput_rps": round(len(lat) / wall, 2),
            "latency_ms": _pct(lat) if lat else None}


def _rest_phase(url: str, clients: int, seconds: float, k: int, client_timeout_s: float | None = None) -> dict:
    """`clients` threads calling GET /api/v1/search back to back for `seconds`: how many were answered, refused at once
    with 503 (the server's bound on searches in flight), answered otherwise, or never answered within the client's
    timeout (httpx, 5 s unless given)."""
    import httpx
    counts = {"ok": 0, "busy_503": 0, "other_status": 0, "client_errors": 0}
    ok_ms: list[float] = []
    busy_ms: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        with httpx.Client(timeout=client_timeout_s or 5.0) as c:
            j = 0
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    r = c.get(f"{url.rstrip('/')}/api/v1/search",
                              params={"q": f"{TEXT_QUERIES[(n + j) % len(TEXT_QUERIES)]} {n}-{j}", "k": k})
                    key = "ok" if r.status_code == 200 else "busy_503" if r.status_code == 503 else "other_status"
                    if key == "busy_503" and r.headers.get("retry-after") is None:
                        key = "other_status"               # a 503 that does not say when to come back is not ours
                except httpx.HTTPError:
                    key = "client_errors"
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    counts[key] += 1
                    if key in ("ok", "busy_503"):
                        (ok_ms if key == "ok" else busy_ms).append(ms)
                j += 1

    wall = run_threads(worker, clients, timeout=seconds + (client_timeout_s or 5.0) + 120)
    return {"clients": clients, "seconds": round(wall, 1), "sent": sum(counts.values()), **counts,
            "ok_latency_ms": _pct(ok_ms) if ok_ms else None, "busy_latency_ms": _pct(busy_ms) if busy_ms else None}


def run_soak(bundle: Path = REPO / "precomputed", seconds: float = 180, burst_seconds: float = 60, k: int = 50,
             overload_clients: int = 100, out: Path | None = None, env: dict | None = None,
             cool_down: float = 0, min_requests: int = 0, cap_s: float | None = None,
             client_timeout_s: float | None = None) -> dict:
    """8 clients for `seconds`, 32 for `burst_seconds`, then `overload_clients` at once (past the queue's 64), the same
    number on the REST search (rest_burst: answered, refused with 503, timed out), then `cool_down` idle seconds; `env` goes to the app process (e.g. MALLOC_ARENA_MAX). min_requests, cap_s,
    client_timeout_s: each phase also runs on until it has that many answers (at most cap_s seconds), with clients that
    wait that long (see _phase); the defaults keep the benchmark time-boxed."""
    from backend.ops.app_process import running_app
    samples: list[tuple[float, float]] = []
    with running_app(bundle, env=env) as app:
        done = threading.Event()
        t0 = time.perf_counter()

        def sample() -> None:
            while not done.is_set():
                samples.append((round(time.perf_counter() - t0, 1), _rss_mb(app.pid)))
                time.sleep(1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start_rss = _rss_mb(app.pid)
        until = {"min_requests": min_requests, "cap_s": cap_s, "client_timeout_s": client_timeout_s}
        phases = [_phase(app.url, 8, seconds, k, **until)]
        after_8 = _rss_mb(app.pid)
        phases.append(_phase(app.url, 32, burst_seconds, k, **until))
        phases.append(_phase(app.url, overload_clients, max(5.0, burst_seconds / 6), k, **until))
        rest_burst = _rest_phase(app.url, overload_clients, max(5.0, burst_seconds / 6), k)
        time.sleep(cool_down)
        done.set()
        sampler.join(2)
        end_rss = _rss_mb(app.pid)
    warm = [r for t, r in samples if t >= min(30.0, seconds / 3)]
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(), "k": k,
              "env": env or {}, "cool_down_s": cool_down,
              "rss_mb": {"start": start_rss, "after_8_clients": after_8, "peak": max([r for _, r in samples] + [start_rss, after_8, end_rss]),
                         "end": end_rss, "after_warm_up_min": min(warm) if warm else None,
                         "after_warm_up_max": max(warm) if warm else None},
              "phases": phases, "rest_burst": rest_burst, "rss_samples": samples[::5]}
    if out:
        Path(out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    print(json.dumps(run_soak(), indent=2))
