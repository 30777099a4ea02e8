"""Study load test: simulated participants submit judgements through the Gradio API for a while; afterwards the
database must hold exactly what was acknowledged (nothing lost, nothing twice), with submit latency measured."""
from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from backend.ops.bench import _machine, _pct, run_threads
from backend.paths import REPO


def run_study_load(participants: int = 50, seconds: float = 60, bundle: Path = REPO / "precomputed",
                   out: Path | None = None, think_ms: float = 0, client: str = "http") -> dict:
    """`participants` threads, each its own API client: start, then for each task view it and grade every item
    (a random grade, re-submitting about 10 % of them to exercise idempotence); a thread whose participant is done
    starts the next one, until time runs out. think_ms: a
    pause between two grades (0: back to back, the worst case; ~2,000: a person reading a result).
    client: "http" (Gradio's HTTP call protocol, pushed results, as a browser gets them) or "gradio_client" (the
    Python client, which polls every 50 ms; kept to compare)."""
    from backend.ops.app_process import running_app
    if client not in ("http", "gradio_client"):
        raise ValueError(f"client must be 'http' or 'gradio_client', not {client!r}")
    db = Path(tempfile.mkdtemp(prefix="study-load-")) / "studies.sqlite3"
    acked: dict[tuple, int] = {}          # (pid, task, mid) -> last acknowledged grade
    submit_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    with running_app(bundle, env={"METAVERSE_STUDY_DB": str(db)}) as app:
        stop = time.perf_counter() + seconds

        def one_participant(rng: random.Random) -> bool:
            """Start, then grade every assigned task until time runs out; False when there is nothing to do."""
            try:
                c = _client(client, app.url)
                p = c.predict(api_name="/study_start")
            except Exception as e:  # noqa: BLE001 - counted
                with lock:
                    errors.append(f"start: {e}"[:160])
                return False
            pid = p["participant_id"]
            for task in p["assigned"]:
                if time.perf_counter() > stop:
                    return False
                try:
                    view = c.predict(pid, task, api_name="/study_task")
                except Exception as e:  # noqa: BLE001 - e.g. a describe task with no query yet
                    with lock:
                        errors.append(f"task: {e}"[:160])
                    continue
                items = [i["id"] for i in view["items"]]
                for mid in items + rng.sample(items, k=max(0, len(items) // 10)):
                    if time.perf_counter() > stop:
                        return False
                    if think_ms:
                        time.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
                    grade = rng.randint(0, 3)
                    t = time.perf_counter()
                    try:
                        c.predict(pid, task, mid, grade, api_name="/study_judge")
                    except Exception as e:  # noqa: BLE001 - counted and reported
                        with lock:
                            errors.append(f"judge: {e}"[:160])
                        continue
                    with lock:
                        submit_ms.append((time.perf_counter() - t) * 1000)
                        acked[(pid, task, mid)] = grade
            return bool(p["assigned"])

        def participant(n: int) -> None:
            """One simulated person after another on this thread, so the load lasts the whole run."""
            rng = random.Random(n)
            while time.perf_counter() < stop and one_participant(rng):
                pass

        wall = run_threads(participant, participants, timeout=seconds + 120)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT participant_id, task_id, metaverse_id, grade FROM judgements WHERE room = -1").fetchall()
    keys = [(r[0], r[1], r[2]) for r in rows]
    stored = {(r[0], r[1], r[2]): r[3] for r in rows}
    lost = [k for k in acked if k not in stored]
    wrong = [k for k, g in acked.items() if k in stored and stored[k] != g]
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
              "participants": participants, "think_ms": think_ms, "client": client, "seconds": round(wall, 1), "submits": len(submit_ms),
              "submit_ms": _pct(submit_ms) if submit_ms else None, "throughput_rps": round(len(submit_ms) / wall, 2),
              "acknowledged_keys": len(acked), "rows": len(rows), "duplicated_rows": len(keys) - len(set(keys)),
              "lost": len(lost), "wrong_grade": len(wrong), "unacknowledged_rows": len(set(stored) - set(acked)),
              "errors": len(errors), "first_errors": sorted(set(errors))[:3]}
    if out:
        Path(out).write_text(json.dumps(report, indent=2))
    return report


class _HTTPPredict:
    """gradio_client's predict(*args, api_name=...) over backend.ops.gradio_http, so both clients share one loop."""

    def __init__(self, url: str):
        from backend.ops.gradio_http import GradioHTTP
        self.http = GradioHTTP(url)

    def predict(self, *args, api_name: str):
        return self.http.predict(api_name, *args)


def _client(kind: str, url: str):
    if kind == "gradio_client":
        from gradio_client import Client
        return Client(url, verbose=False)
    return _HTTPPredict(url)


if __name__ == "__main__":
    print(json.dumps(run_study_load(), indent=2))
