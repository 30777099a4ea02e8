"""The app's named API endpoints through gradio_client: /search returns the result JSON, bad input a clear error."""
from __future__ import annotations

import pytest

from test_ui_browser import start_app  # the same app-in-a-subprocess helper

pytestmark = pytest.mark.browser  # starts the real app (no browser needed, but just as slow)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from gradio_client import Client

    for url in start_app(tmp_path_factory.mktemp("api")):
        yield Client(url, verbose=False)


def test_search_endpoint_returns_result_json(client):
    result = client.predict("stormy seas", "all", 10, "", api_name="/search")
    assert {"query", "results", "room_matches", "timings_ms"} <= set(result)
    assert 1 <= len(result["results"]) <= 10
    for hit in result["results"]:
        assert {"id", "kind", "title", "score", "rooms"} <= set(hit)
        assert hit["kind"] in ("museum", "game")
        assert hit["rooms"], hit["id"]
        for room in hit["rooms"]:
            assert {"number", "score", "contribution", "images"} <= set(room)
            assert all(im["url"].startswith("/thumbs/") for im in room["images"])
        assert hit["rooms"][hit["best_room"] - 1]["contribution"] == max(r["contribution"] for r in hit["rooms"])
        assert sum(r["contribution"] for r in hit["rooms"]) == pytest.approx(1.0, abs=1e-3)
    scores = [h["score"] for h in result["results"]]
    assert scores == sorted(scores, reverse=True)
    assert isinstance(result["room_matches"], list) and result["room_matches"]
    group = result["room_matches"][0]
    assert {"part", "text", "matches"} <= set(group)
    assert {"metaverse_id", "room", "room_title", "score"} <= set(group["matches"][0])


def test_search_endpoint_kind_filter_and_ranker(client):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/search" in info and "/search_image" in info
    returns = info["/search"]["returns"][0]
    assert returns["type"].get("properties", {}).keys() >= {"query", "results", "room_matches"}  # typed, not Any
    result = client.predict("a racing game at night", "game", 3, "baseline", api_name="/search")
    assert result["query"]["ranker"] == "baseline"
    assert len(result["results"]) <= 3
    assert all(h["kind"] == "game" for h in result["results"])


def test_empty_query_is_a_clear_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="(?i)empty"):
        client.predict("   ", "all", 10, "", api_name="/search")
    with pytest.raises(AppError, match="(?i)kind"):
        client.predict("stormy seas", "planets", 10, "", api_name="/search")


def test_search_image_endpoint(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    path = tmp_path / "q.png"
    Image.new("RGB", (96, 96), (40, 80, 160)).save(path)
    result = client.predict(handle_file(str(path)), "all", 5, "", api_name="/search_image")
    assert result["query"]["type"] == "image"
    assert 1 <= len(result["results"]) <= 5


def test_recommend_endpoint(client):
    from gradio_client.exceptions import AppError

    ids = [h["id"] for h in client.predict("stormy seas", "all", 5, "", api_name="/search")["results"]]
    out = client.predict(ids[:3], 5, 0.2, "paper", 0, "", api_name="/recommend")
    assert {"seeds", "results", "ild", "split"} <= set(out) and len(out["results"]) == 5
    assert all({"id", "cluster", "role", "reason"} <= set(s) for s in out["seeds"])
    assert not set(ids[:3]) & {r["id"] for r in out["results"]}
    with pytest.raises(AppError, match="d must be between 0 and 1"):
        client.predict(ids[:3], 5, 3.0, "paper", 0, "", api_name="/recommend")


def test_security_headers_and_no_server_banner(client):
    import urllib.request

    with urllib.request.urlopen(client.src) as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
    assert "frame-ancestors" in headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "same-origin"
    assert "server" not in headers


def test_upload_over_the_limit_is_refused(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * (11 * 1024 * 1024))
    with pytest.raises((AppError, Exception), match="(?i)size|large|413"):
        client.predict(handle_file(str(big)), "all", 5, "", api_name="/search_image")


def test_decompression_bomb_upload_gets_a_clear_message(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(bomb)   # 900 MP in ~100 KB
    with pytest.raises(AppError, match="bomb.png is larger than 80 megapixels"):
        client.predict(handle_file(str(bomb)), "all", 5, "", api_name="/search_image")
    assert client.predict("stormy seas", "all", 1, "", api_name="/search")["results"]   # still serving
