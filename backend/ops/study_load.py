"""Study load test: simulated participants submit judgements through the study's REST routes for a while;
afterwards the database must hold exactly what was acknowledged (nothing lost, nothing twice), with submit latency
measured."""
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

STRIP_SIZE = 96     # the Study tab's strip thumbnails (ui/tabs/study.py STRIP_SIZE)


def run_study_load(participants: int = 50, seconds: float = 60, bundle: Path = REPO / "precomputed",
                   out: Path | None = None, think_ms: float = 0, min_submits: int = 0, cap_s: float = 600,
                   strip_items: int = 10) -> dict:
    """`participants` threads, each its own HTTP client: start, then for each task view it (a describe task: write
    a query first) and grade every item (a random grade, re-submitting about 10 % of them to exercise idempotence);
    a thread whose participant is done starts the next one, until time runs out. think_ms: a pause between two
    grades (0: back to back, the worst case; ~2,000: a person reading a result). Participants speak the REST routes
    /api/v1/study/…, the only study API. The app runs with the per-client start limit raised: every simulated
    person comes from 127.0.0.1, and the bench measures writes, not the limit. min_submits: run on past `seconds`
    until that many grades were acknowledged (tests count answers, not seconds), never past cap_s.
    Like a person scrolling the page, a participant fetches a result's image strips (at the page's thumbnail size)
    right before grading it, for the first `strip_items` results of a task, and a describe task's target before
    writing its query (0: no images). Every other participant enters by a crowd
    platform's link (POST enter with an external id) and enters again after its first task, which must resume the
    same participant: the report counts external ids held by more than one participant and failed resumes."""
    from backend.ops.app_process import running_app
    db = Path(tempfile.mkdtemp(prefix="study-load-")) / "studies.sqlite3"
    acked: dict[tuple, int] = {}          # (pid, task, mid) -> last acknowledged grade
    submit_ms: list[float] = []
    thumb_ms: list[float] = []
    thumb_errors: list[str] = []
    resumed: list[bool] = []
    errors: list[str] = []
    lock = threading.Lock()
    env = {"METAVERSE_STUDY_DB": str(db), "METAVERSE_STUDY_START_BURST": str(1_000_000),
           "METAVERSE_STUDY_START_PER_MIN": str(1_000_000)}
    with running_app(bundle, env=env) as app:
        t0 = time.perf_counter()

        def over() -> bool:
            now = time.perf_counter() - t0
            return now > cap_s or (now > seconds and len(submit_ms) >= min_submits)

        def strips(c: "StudyHTTP", item: dict) -> None:
            """Fetch one result's (or target's) rooms' thumbnails, as the page shows them."""
            if strip_items:
                for room in item["rooms"]:
                    for url in room["images"]:
                        if not url:
                            continue
                        t = time.perf_counter()
                        try:
                            c.thumb(url, STRIP_SIZE)
                        except Exception as e:  # noqa: BLE001 - counted and reported
                            with lock:
                                thumb_errors.append(str(e)[:160])
                            continue
                        with lock:
                            thumb_ms.append((time.perf_counter() - t) * 1000)

        def one_participant(rng: random.Random, n: int, k: int) -> bool:
            """Start (every other one by link), then grade every assigned task until time runs out; False when there
            is nothing to do."""
            external = f"LOAD-{n}-{k}" if n % 2 else None
            try:
                c = StudyHTTP(app.url)
                p = c.enter(external) if external else c.start()
            except Exception as e:  # noqa: BLE001 - counted
                with lock:
                    errors.append(f"start: {e}"[:160])
                return False
            pid = p["participant_id"]
            for t_no, task in enumerate(p["assigned"]):
                if over():
                    return False
                try:
                    if external and t_no == 1:               # the link again: the same participant, resumed
                        again = c.enter(external)
                        with lock:
                            resumed.append(again["participant_id"] == pid and again["code"] is None)
                    view = c.task(pid, task)
                    if view["task"]["type"] == "describe" and not view["items"]:
                        strips(c, view["target"])
                        c.write_query(pid, task, "a museum of stormy seas and portraits")
                        view = c.task(pid, task)
                except Exception as e:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"task: {e}"[:160])
                    continue
                items = [i["id"] for i in view["items"]]
                looked: set = set()
                for mid in items + rng.sample(items, k=max(0, len(items) // 10)):
                    if over():
                        return False
                    if mid not in looked and len(looked) < strip_items:   # look at a result, then grade it
                        looked.add(mid)
                        strips(c, view["items"][items.index(mid)])
                    if think_ms:
                        time.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
                    grade = rng.randint(0, 3)
                    t = time.perf_counter()
                    try:
                        c.grade(pid, task, mid, grade)
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
            k = 0
            while not over() and one_participant(rng, n, k):
                k += 1

        wall = run_threads(participant, participants, timeout=max(seconds, cap_s) + 120)
    con = sqlite3.connect(db)
    ext = con.execute("SELECT external_id, COUNT(*) FROM participants WHERE external_id IS NOT NULL "
                      "GROUP BY external_id").fetchall()
    rows = con.execute("SELECT participant_id, task_id, metaverse_id, grade FROM judgements WHERE room = -1").fetchall()
    keys = [(r[0], r[1], r[2]) for r in rows]
    stored = {(r[0], r[1], r[2]): r[3] for r in rows}
    lost = [k for k in acked if k not in stored]
    wrong = [k for k, g in acked.items() if k in stored and stored[k] != g]
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
              "participants": participants, "think_ms": think_ms, "client": "rest", "seconds": round(wall, 1), "submits": len(submit_ms),
              "submit_ms": _pct(submit_ms) if submit_ms else None, "throughput_rps": round(len(submit_ms) / wall, 2),
              "acknowledged_keys": len(acked), "rows": len(rows), "duplicated_rows": len(keys) - len(set(keys)),
              "lost": len(lost), "wrong_grade": len(wrong), "unacknowledged_rows": len(set(stored) - set(acked)),
              "errors": len(errors), "first_errors": sorted(set(errors))[:3],
              "link_entries": len(ext), "external_ids_held_twice": sum(n > 1 for _, n in ext),
              "link_resumes": len(resumed), "link_resumes_failed": resumed.count(False),
              "thumbs_fetched": len(thumb_ms), "thumb_ms": _pct(thumb_ms) if thumb_ms else None,
              "thumb_errors": len(thumb_errors), "first_thumb_errors": sorted(set(thumb_errors))[:3]}
    if out:
        Path(out).write_text(json.dumps(report, indent=2))
    return report


class StudyHTTP:
    """One simulated participant's client of the study routes (backend/api/study_http.py); a non-2xx answer raises
    RuntimeError with the route's message."""

    def __init__(self, url: str, timeout: float = 60):
        import httpx
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1/study/", timeout=timeout)

    def _ok(self, r):
        if r.status_code // 100 != 2:
            raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:120]}")
        return r.json()

    def start(self) -> dict:
        return self._ok(self.http.post("participants"))

    def enter(self, external_id: str, study: str = "demo-study") -> dict:
        return self._ok(self.http.post("enter", json={"study": study, "pid": external_id}))

    def thumb(self, url: str, size: int) -> int:
        """GET a thumbnail the way the page does (same-origin path + ?size=); its byte count."""
        r = self.http.get(str(self.http.base_url.join(f"{url}?size={size}")))
        if r.status_code != 200 or r.headers.get("content-type") != "image/png":
            raise RuntimeError(f"GET {url}: {r.status_code} {r.headers.get('content-type')}")
        return len(r.content)

    def task(self, pid: str, task: str) -> dict:
        return self._ok(self.http.get(f"participants/{pid}/tasks/{task}"))

    def write_query(self, pid: str, task: str, text: str) -> dict:
        return self._ok(self.http.put(f"participants/{pid}/tasks/{task}/query", json={"text": text}))

    def grade(self, pid: str, task: str, mid: str, grade: int) -> dict:
        return self._ok(self.http.put(f"participants/{pid}/tasks/{task}/grades/{mid}", json={"grade": grade}))


if __name__ == "__main__":
    print(json.dumps(run_study_load(), indent=2))
