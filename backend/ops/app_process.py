"""Running `app.py` in a child process on a free localhost port, for the bench and the end-to-end tests."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from backend.paths import REPO


@dataclass(frozen=True)
class RunningApp:
    url: str
    pid: int
    started_s: float  # seconds from spawn until the page answered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(bundle: Path, log_path: Optional[Path] = None, timeout: float = 240,
                env: Optional[dict] = None) -> Iterator[RunningApp]:
    """Start `python app.py --bundle BUNDLE` on 127.0.0.1, wait until it answers, stop it afterwards.

    RuntimeError (with the end of the app's log) if it exits or does not answer within timeout seconds."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "METAVERSE_BUNDLE": str(bundle),
           **(env or {})}
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--bundle", str(bundle)], cwd=REPO,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def tail() -> str:
        return Path(log_path).read_text()[-4000:] if log_path else "(no log kept)"

    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with {proc.returncode}:\n{tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"app did not answer on {url} within {timeout:.0f}s:\n{tail()}")
            time.sleep(0.3)
        yield RunningApp(url=url, pid=proc.pid, started_s=round(time.perf_counter() - t0, 2))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()
