"""The outermost layer of the web app (pure ASGI, wraps REST and Gradio alike): security headers on every response,
errors included; a body-size limit per path prefix, counted as the body streams in; and a JSON 500 instead of a
bare one when anything below fails."""
from __future__ import annotations

import json
import logging
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class _TooLarge(Exception):
    pass


def _json_body(status: int, message: str) -> tuple[dict, bytes]:
    body = json.dumps({"error": message}, ensure_ascii=True).encode("ascii")
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]},
            body)


class RequestGuard:
    """Wrap an ASGI app.

    headers: added to every HTTP response unless the app set them. limits: (path prefix, bytes) pairs, the longest
    matching prefix wins, `default_limit` otherwise; a body over its limit is answered 413 (from Content-Length before
    anything is read, or as soon as the streamed body passes it), and whatever the app had begun to answer is
    dropped. A request that makes the app raise before it answered gets a JSON 500."""

    def __init__(self, app, headers: Mapping[str, str], limits: Sequence[tuple[str, int]] = (),
                 default_limit: int = MIB):
        self.app = app
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.limits = sorted(limits, key=lambda pl: len(pl[0]), reverse=True)
        self.default_limit = default_limit

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default_limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        state = {"started": False, "too_large": False}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                if state["too_large"]:
                    return
                have = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", [])) +
                           [(k, v) for k, v in self.headers if k not in have]}
                state["started"] = True
            elif state["too_large"] and not state["started"]:
                return
            await send(message)

        async def answer(status: int, text: str):
            start, body = _json_body(status, text)
            await send_with_headers(start)
            await send({"type": "http.response.body", "body": body})

        too_large = (f"The request body is larger than this route accepts ({limit // 1024:,} KB); send a shorter text "
                     "or a smaller file.")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            if declared is not None and int(declared) > limit:
                return await answer(413, too_large)
        except ValueError:
            return await answer(400, "The Content-Length header is not a number.")

        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    state["too_large"] = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted_receive, send_with_headers)
        except Exception as exc:
            if state["too_large"]:
                if not state["started"]:
                    state["too_large"] = False   # let our own answer through
                    await answer(413, too_large)
                return
            if not state["started"]:
                if not isinstance(exc, _TooLarge):
                    log.exception("request %s %s failed", scope.get("method"), scope.get("path"))
                await answer(500, "The server failed on this request; it has been logged. Please try again.")
                return
            raise
        if state["too_large"] and not state["started"]:
            state["too_large"] = False
            await answer(413, too_large)
