"""Gradio's documented HTTP API (the protocol its curl examples use), as a tiny client for load tests.

Queued endpoints: POST {url}gradio_api/call/{name} with {"data": [...]} answers an event id; GET on .../{event_id}
streams server-sent events until `complete` (data: the outputs) or `error`. Endpoints registered with queue=False:
POST {url}gradio_api/run/{name} answers {"data": [...]} directly. The server pushes the result as soon as it is ready, as it
does to a browser. `gradio_client`, by contrast, polls its message queue every 50 ms in each call (see
gradio_client/utils.py, stream_sse_v1plus), which alone adds ~60 ms per call on this machine: a load test through it
measures the Python client, not the server participants talk to."""
from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


class GradioCallError(RuntimeError):
    """The endpoint raised (e.g. gr.Error) or the stream ended without a result."""


class GradioHTTP:
    """One visitor: like a browser tab, it sends a session hash with every direct call, so the server keeps one
    session state for it (without one, Gradio builds a fresh state from every block's config per call: ~10 ms of
    CPU on this app, most of the cost of a judgement)."""

    def __init__(self, url: str, timeout: float = 60):
        self.http = httpx.Client(base_url=url.rstrip("/") + "/", timeout=timeout)
        self.session_hash = secrets.token_hex(6)
        self._unqueued: set[str] | None = None

    def predict(self, api_name: str, *args: Any) -> Any:
        """The first output of any named endpoint, by the route its registration asks for: the app's own config
        (GET config, read once) says which endpoints skip the queue, so callers need not keep a copy of that list."""
        if self._unqueued is None:
            r = self.http.get("config")
            r.raise_for_status()
            self._unqueued = {d.get("api_name") for d in r.json().get("dependencies", []) if d.get("queue") is False}
        return (self.run if api_name.lstrip("/") in self._unqueued else self.call)(api_name, *args)

    def run(self, api_name: str, *args: Any) -> Any:
        """The first output of an endpoint that skips the queue (queue=False)."""
        name = api_name.lstrip("/")
        r = self.http.post(f"gradio_api/run/{name}", json={"data": list(args), "session_hash": self.session_hash})
        body = r.json()
        if r.status_code != 200 or "error" in body:
            raise GradioCallError(f"{name}: {body.get('error', r.status_code)}")
        return body["data"][0]

    def call(self, api_name: str, *args: Any) -> Any:
        """The first output of a queued endpoint (gr.api functions have one)."""
        name = api_name.lstrip("/")
        r = self.http.post(f"gradio_api/call/{name}", json={"data": list(args)})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        event = None
        with self.http.stream("GET", f"gradio_api/call/{name}/{event_id}") as s:
            s.raise_for_status()
            for line in s.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = line.split(":", 1)[1].strip()
                    if event == "error":
                        raise GradioCallError(f"{name}: {payload}")
                    return json.loads(payload)[0]
        raise GradioCallError(f"{name}: the stream ended without a result (last event {event!r})")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "GradioHTTP":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
