"""Running `app.py` in a child process on a free localhost port, for the bench and the end-to-end tests."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
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


PORT_TAKEN = "address already in use"   # uvicorn's bind error: the port was taken while the app was loading


@contextlib.contextmanager
def running_app(bundle: Path, log_path: Optional[Path] = None, timeout: float = 240,
                env: Optional[dict] = None, attempts: int = 3) -> Iterator[RunningApp]:
    """Start `python app.py --bundle BUNDLE` on 127.0.0.1, wait until it answers, stop it afterwards.

    The port is free when picked but the app binds it only after loading the bundle, and meanwhile any outgoing
    connection on the machine may take it as its own port; an app that exits for that is started again on a new port
    (up to `attempts` times). RuntimeError (with the end of the app's log) if it exits for another reason or does not
    answer within timeout seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "METAVERSE_BUNDLE": str(bundle),
           **(env or {})}
    kept = Path(log_path) if log_path else None
    for attempt in range(1, attempts + 1):
        path = kept or _temp_log()
        try:
            with _started(bundle, path, timeout, env) as app:
                yield app
            return
        except _PortTaken:
            if attempt == attempts:
                raise RuntimeError(f"app could not bind a port in {attempts} tries:\n{_tail(path)}") from None
        finally:
            if kept is None:
                path.unlink(missing_ok=True)


class _PortTaken(Exception):
    pass


def _temp_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="app-", suffix=".log")
    os.close(fd)   # _started reopens it by name for the child's output
    return Path(name)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


@contextlib.contextmanager
def _started(bundle: Path, log_path: Path, timeout: float, env: dict) -> Iterator[RunningApp]:
    port = free_port()
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--bundle", str(bundle)], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            while True:
                if proc.poll() is not None:
                    if PORT_TAKEN in _tail(log_path).lower():
                        raise _PortTaken()
                    raise RuntimeError(f"app exited with {proc.returncode}:\n{_tail(log_path)}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"app did not answer on {url} within {timeout:.0f}s:\n{_tail(log_path)}")
                time.sleep(0.3)
            yield RunningApp(url=url, pid=proc.pid, started_s=round(time.perf_counter() - t0, 2))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
