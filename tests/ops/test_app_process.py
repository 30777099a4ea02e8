"""running_app starts app.py again on a new port when the one it picked was taken while the app was loading (any
outgoing connection may take a free port as its own); the suite had failed on that beside a load test."""
from __future__ import annotations

import socket
import urllib.request
from unittest import mock

import pytest

from backend.ops import app_process
from tests.conftest import REPO

pytestmark = pytest.mark.browser  # starts the real app (no browser needed, but as slow)


def test_an_app_whose_port_was_taken_is_started_on_another(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        picks = iter([taken])
        real = app_process.free_port
        with mock.patch.object(app_process, "free_port", lambda: next(picks, None) or real()):
            with app_process.running_app(REPO / "precomputed", log_path=tmp_path / "app.log") as app:
                assert not app.url.endswith(f":{taken}/")
                with urllib.request.urlopen(app.url + "api/v1/health", timeout=120) as r:
                    assert r.status == 200


def test_an_app_that_fails_for_another_reason_says_why(tmp_path):
    with pytest.raises(RuntimeError, match="exited with 2"):
        with app_process.running_app(tmp_path / "no-bundle-here"):
            pass
