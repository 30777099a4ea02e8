"""The one rule for a file path that arrives in a request: the server opens it only if this process itself received
it through Gradio's upload route. Every Gradio event or endpoint that takes a file goes through uploaded_path()."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

# One message for every refusal, so an answer never tells whether some other file exists on the server.
REFUSED = "That file was not uploaded to this page; please upload the image again."


def upload_folder() -> Path:
    """Where Gradio writes uploads ($GRADIO_TEMP_DIR or <tmp>/gradio), resolved."""
    from gradio.utils import get_upload_folder
    return Path(get_upload_folder()).resolve()


def _payload_path(payload) -> str | None:
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)
    return path if isinstance(path, str) else None


def uploaded_path(payload, blocks) -> str:
    """The local path of an uploaded file payload ({"path": ...} or FileData), or ValueError(REFUSED).

    Accepted only when the resolved path lies in the upload folder, is a regular file reached without a symlink,
    and is one this process's upload route recorded (blocks.upload_file_set). Gradio itself already refuses non-uploads once the app counts as launched (see
    ui.make_app); this is the same rule stated where the file is opened, so a Gradio change cannot silently undo it."""
    path = _payload_path(payload)
    if not path or "\x00" in path:
        raise ValueError(REFUSED)
    known = path in getattr(blocks, "upload_file_set", ())
    p = Path(path)
    try:
        inside = p.resolve(strict=True).is_relative_to(upload_folder())
        st = os.lstat(p)
    except (OSError, RuntimeError, ValueError):
        raise ValueError(REFUSED) from None
    if not (known and inside and stat.S_ISREG(st.st_mode) and p.resolve() == p.absolute()):
        raise ValueError(REFUSED)
    return path


REMOTE_REFUSED = "Files are accepted only as uploads to this server, not as web addresses."


def _names_remote_file(node) -> bool:
    """True when a decoded JSON value holds a Gradio file payload whose path is a web address. (Its `url` is not
    looked at: the page sends the server's own /gradio_api/file= address there, and Gradio reads only the path of an
    input.)"""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            meta = n.get("meta")
            if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData":
                v = n.get("path")
                if isinstance(v, str) and v.strip().lower().startswith(("http:", "https:", "//")):
                    return True
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return False


class RemoteFileFilter:
    """ASGI wrapper for the Gradio routes: a request whose JSON names a file by URL is answered 400 before Gradio
    sees it. Gradio would otherwise download any public address a client names into its cache (it refuses private
    ones) before a handler could refuse the file. Bodies are already size-limited by the outer RequestGuard."""

    def __init__(self, app, prefix: str = "/gradio_api/"):
        self.app, self.prefix = app, prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").startswith(self.prefix):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            remote = _names_remote_file(json.loads(body)) if body[:1] in (b"{", b"[") else False
        except (ValueError, RecursionError):
            remote = False   # not JSON: Gradio answers it as it would
        if remote:
            out = json.dumps({"error": REMOTE_REFUSED}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
            return await send({"type": "http.response.body", "body": out})
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list, then=None):
    async def receive():
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive
