"""The app as an attacker meets it: `app.py` started as the README starts it, spoken to over HTTP only.

Every endpoint and page event that takes a file (found from the app's own /config and /gradio_api/info, so a new one
is covered without editing this file) gets payloads naming server files; none is opened or copied, the refusals say
the same whether the file exists, and the server keeps answering. The REST and Gradio routes answer bad bodies with
JSON errors that carry the security headers."""
from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import httpx
import pytest

from backend.ops.app_process import running_app
from backend.paths import REPO

FILE_TYPES = {"image", "file", "video", "audio", "gallery", "model3d", "uploadbutton", "multimodaltextbox"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    uploads = tmp_path_factory.mktemp("gradio-uploads")
    (uploads / "planted").mkdir()
    (uploads / "planted" / "link.png").symlink_to("/etc/passwd")   # as if something had put it there
    from PIL import Image
    Image.new("RGB", (40, 40), (9, 9, 9)).save(uploads / "planted" / "stale.png")   # e.g. left by an earlier process
    study_db = Path(os.environ["METAVERSE_STUDY_DB"])
    log = tmp_path_factory.mktemp("log") / "app.log"
    with running_app(REPO / "precomputed", log_path=log, env={"GRADIO_TEMP_DIR": str(uploads)}) as running:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            yield {"url": running.url, "http": http, "uploads": uploads, "study_db": study_db, "log": log}


def _files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*") if p.is_file()}


def _payload(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.png"}


def _named_file_endpoints(http) -> list[tuple[str, int, int]]:
    """(api name, index of the file parameter, number of parameters) for every named endpoint taking a file."""
    info = http.get("gradio_api/info").json()["named_endpoints"]
    out = []
    for name, ep in info.items():
        params = ep["parameters"]
        for i, p in enumerate(params):
            if "file" in str(p.get("python_type", {}).get("type", "")).lower():
                out.append((name.lstrip("/"), i, len(params)))
    return out


def _page_file_events(http) -> list[tuple[int, int, int]]:
    """(fn_index, index of the file input, number of inputs) for every page event with a file component input."""
    config = http.get("config").json()
    types = {c["id"]: c["type"] for c in config["components"]}
    out = []
    for dep in config["dependencies"]:
        for i, cid in enumerate(dep["inputs"]):
            if types.get(cid) in FILE_TYPES:
                out.append((dep["id"], i, len(dep["inputs"])))
    return out


def _call_named(http, name: str, data: list) -> str:
    """The event stream's text for one call of a named endpoint."""
    r = http.post(f"gradio_api/call/{name}", json={"data": data})
    if r.status_code != 200:
        return f"HTTP {r.status_code} {r.text}"
    event = r.json()["event_id"]
    return http.get(f"gradio_api/call/{name}/{event}", timeout=120).text


def _call_event(http, fn_index: int, data: list) -> str:
    """What the page's own event answers: queue/join as the browser sends it, then its stream up to completion."""
    session = secrets.token_hex(6)
    r = http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                 "event_data": None, "trigger_id": None})
    if r.status_code != 200:
        return f"HTTP {r.status_code} {r.text}"
    seen = []
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                seen.append(line)
                msg = json.loads(line[5:])
                if msg.get("msg") in ("process_completed", "close_stream"):
                    break
    return "\n".join(seen)


def _outcome(stream: str) -> str:
    """The completed message's output of a page event's stream, without per-call ids."""
    for line in reversed(stream.splitlines()):
        msg = json.loads(line[5:])
        if msg.get("msg") == "process_completed":
            return json.dumps([msg.get("success"), msg.get("output")], sort_keys=True)
    return stream


def _alive(http) -> None:
    t0 = time.perf_counter()
    r = http.get("api/v1/health", timeout=120)   # a frozen server never answers; a busy one answers late
    assert r.status_code == 200 and r.json()["ok"] is True, f"health after {time.perf_counter() - t0:.1f} s"


def _targets(app, tmp_path) -> dict[str, str]:
    """Files no request may open: devices, /proc, system files, the study database, the app itself, a symlink out
    of the upload folder, a path that does not exist, and a '..' escape from the upload folder."""
    link = app["uploads"] / "planted" / "link.png"
    return {"dev-zero": "/dev/zero", "environ": "/proc/self/environ", "passwd": "/etc/passwd",
            "study-db": str(app["study_db"]), "app": str(REPO / "app.py"), "symlink-out": str(link),
            "missing": "/etc/no-such-file-here", "dotdot": str(app["uploads"] / ".." / ".." / "etc" / "passwd")}


def test_every_file_taking_endpoint_and_event_is_found(app):
    assert ("search_image", 0, 4) in _named_file_endpoints(app["http"])
    assert _page_file_events(app["http"]), "the Search tab's image upload event"


def test_named_endpoints_never_open_a_path_the_client_names(app, tmp_path):
    http, before = app["http"], _files(app["uploads"])
    endpoints = _named_file_endpoints(http)
    for name, at, n in endpoints:
        answers = {}
        for label, path in _targets(app, tmp_path).items():
            data = [None] * n
            data[at] = _payload(path)
            if name == "search_image":
                data[1:] = ["all", 1, ""]
            text = _call_named(http, name, data)
            assert "event: error" in text or "HTTP 4" in text, (name, label, text[:300])
            assert "PNG" not in text and "root:" not in text and "not an image" not in text, (name, label, text[:300])
            answers[label] = text.replace(os.path.abspath(path), "<path>").replace(path, "<path>").split("data:", 1)[-1]
            _alive(http)
        assert len(set(answers.values())) == 1, f"{name}: the refusals differ by file: {answers}"
    assert _files(app["uploads"]) - before == set(), "a named file was copied into the upload folder"


def test_page_events_never_open_a_path_the_client_names(app, tmp_path):
    http, before = app["http"], _files(app["uploads"])
    for fn_index, at, n in _page_file_events(http):
        answers = {}
        for label, path in _targets(app, tmp_path).items():
            data = [None] * n
            data[at] = _payload(path)
            text = _call_event(http, fn_index, data)
            assert '"success": false' in text.replace('"success":false', '"success": false') or "HTTP 4" in text \
                or "upload the image again" in text, (fn_index, label, text[:400])
            assert "root:" not in text and "not an image" not in text, (fn_index, label, text[:300])
            answers[label] = _outcome(text.replace(os.path.abspath(path), "<path>").replace(path, "<path>"))
            _alive(http)
        assert len(set(answers.values())) == 1, f"event {fn_index}: the refusals differ by file: {answers}"
    assert _files(app["uploads"]) - before == set(), "a named file was copied into the upload folder"


def test_a_file_in_the_upload_folder_that_this_process_did_not_receive_is_refused(app):
    """Gradio's check lets any file inside its upload folder through; the app's own (ui/uploads.py) does not."""
    stale = str(app["uploads"] / "planted" / "stale.png")
    text = _call_named(app["http"], "search_image", [_payload(stale), "all", 1, ""])
    assert "event: error" in text and "upload the image again" in text and '"results"' not in text
    for fn_index, at, n in _page_file_events(app["http"]):
        data = [None] * n
        data[at] = _payload(stale)
        text = _call_event(app["http"], fn_index, data)
        assert "upload the image again" in text and "mv-card" not in text


def test_a_file_named_by_url_is_refused_before_anything_is_fetched(app):
    http = app["http"]
    for payload in ({"path": "https://example.com/a.png", "meta": {"_type": "gradio.FileData"}},
                    {"path": "//example.com/a.png", "url": "http://127.0.0.1:1/a.png",
                     "meta": {"_type": "gradio.FileData"}}):
        r = http.post("gradio_api/call/search_image", json={"data": [payload, "all", 1, ""]})
        assert r.status_code == 400 and "not as web addresses" in r.json()["error"]
        assert r.headers["content-security-policy"].startswith("default-src 'self'")


def test_a_real_upload_still_searches(app, tmp_path):
    from gradio_client import Client, handle_file
    from PIL import Image
    p = tmp_path / "red.png"
    Image.new("RGB", (80, 60), (210, 30, 30)).save(p)
    out = Client(app["url"], verbose=False).predict(handle_file(str(p)), "all", 3, "", api_name="/search_image")
    assert out["query"]["type"] == "image" and len(out["results"]) == 3


@pytest.mark.parametrize("body", ['{"text": "sea", "min_score": NaN}', '{"text": "sea", "min_score": Infinity}',
                                  '{"text": "sea", "min_score": 1e400}', '{"text": "sea", "ranker": "\\ud800"}',
                                  '{"text": "\\ud800 sea", "k": 2}', '{"image_key": "\\udfff/1/1"}',
                                  '{"text": "sea", "k": NaN}', '{"text": 5', '[]'])
def test_bad_rest_bodies_get_json_errors_with_the_security_headers(app, body):
    r = app["http"].post("api/v1/search", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json" and r.json()["error"]
    assert r.headers["x-content-type-options"] == "nosniff" and "default-src" in r.headers["content-security-policy"]


def test_a_body_that_is_not_json_says_so(app):
    r = app["http"].post("api/v1/search", content='{"text": 5', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"].startswith("The body is not valid JSON")


def test_a_422_quotes_a_short_excerpt_not_the_body(app):
    body = json.dumps({"text": "sea", "k": "x" * 900_000})
    r = app["http"].post("api/v1/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and len(r.content) < 1000 and "k:" in r.json()["error"]


@pytest.mark.parametrize("route", ["gradio_api/call/search", "gradio_api/queue/join", "gradio_api/run/predict"])
def test_gradio_routes_quote_a_short_excerpt_not_the_body(app, route):
    body = json.dumps({"data": "x" * 900_000})
    r = app["http"].post(route, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and len(r.content) < 1000 and "data" in r.json()["error"]
    assert "default-src" in r.headers["content-security-policy"]


@pytest.mark.parametrize("route", ["api/v1/search", "gradio_api/call/search", "gradio_api/queue/join",
                                   "gradio_api/run/predict"])
def test_bodies_over_the_limit_are_refused_unread(app, route):
    big = b'{"data": ["' + b"a" * (3 * 2**20) + b'"]}'
    r = app["http"].post(route, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert "default-src" in r.headers["content-security-policy"]
    chunked = app["http"].post(route, content=iter([big[:2**20], big[2**20:]]),
                               headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    _alive(app["http"])


def test_health_shows_no_paths(app):
    text = app["http"].get("api/v1/health").text
    assert "/" not in text.replace("\\/", "")


def test_an_added_title_with_a_surrogate_is_refused_over_rest(app):
    spec = ('{"id": "bad-title", "kind": "museum", "title": "Harbours \\ud800", "description": "Intro.\\n\\nRoom.",'
            ' "rooms": [{"title": "Room", "features": [[' + ",".join(["0.1"] * 384) + ']]}]}')
    r = app["http"].post("api/v1/metaverses", content=spec, headers={
        "content-type": "application/json", "authorization": f"Bearer {os.environ['METAVERSE_ADMIN_TOKEN']}"})
    assert r.status_code == 400 and "lone surrogate" in r.json()["error"]
    assert app["http"].get("api/v1/search", params={"q": "harbours", "k": 50}).status_code == 200


def test_the_page_answers_with_a_full_content_security_policy(app):
    r = app["http"].get("")
    csp = r.headers["content-security-policy"]
    assert r.status_code == 200 and "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "object-src 'none'" in csp and "frame-ancestors" in csp


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", str(REPO / "app.py"), "app.py",
                                  "/tmp/gradio/../../etc/passwd", str(REPO / "precomputed" / "manifest.json")])
def test_gradios_file_route_serves_no_server_file(app, path):
    r = app["http"].get(f"gradio_api/file={path}")
    assert r.status_code == 403 and "root:" not in r.text
    assert "default-src" in r.headers["content-security-policy"]


def test_the_study_database_is_never_served(app):
    r = app["http"].get(f"gradio_api/file={app['study_db']}")
    assert r.status_code in (403, 404) and b"SQLite" not in r.content
