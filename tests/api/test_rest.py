"""The REST routes over a real service: search (GET/POST), thumbnails, health, OpenAPI schema, clear 4xx errors."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def client(service):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from backend.api.http import API_PREFIX, make_router
    app = FastAPI(openapi_url=f"{API_PREFIX}/openapi.json")
    app.include_router(make_router(service))
    return TestClient(app)


def test_get_and_post_search_return_the_service_json(client, service):
    r = client.get("/api/v1/search", params={"q": "stormy seas", "k": 3, "kind": "museum"})
    assert r.status_code == 200
    body = r.json()
    assert len(body["results"]) == 3 and all(h["kind"] == "museum" for h in body["results"])
    key = body["results"][0]["rooms"][0]["images"][0]["key"]
    r = client.post("/api/v1/search", json={"image_key": key, "k": 2, "full": True})
    assert r.status_code == 200 and "paragraph" in r.json()["results"][0]["rooms"][0]
    ids = [body["results"][0]["id"]]
    r = client.post("/api/v1/search", json={"metaverse_ids": ids, "k": 4})
    assert r.status_code == 200 and ids[0] not in {h["id"] for h in r.json()["results"]}


def test_thumbnail_route(client, service):
    key = f"{service.collection.metaverses[0].id}/1/1"
    r = client.get(f"/thumbs/{key}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    assert client.get(f"/thumbs/{service.collection.metaverses[0].id}/99/1.png").status_code == 404


@pytest.mark.parametrize("params, status, message", [
    ({"q": "   "}, 400, "The query is empty"),
    ({"q": "sea", "ranker": "magic"}, 400, "Unknown ranker 'magic'"),
    ({"q": "sea", "k": "abc"}, 422, "k"),
    ({"q": "sea", "k": 0}, 422, "k"),
    ({"q": "sea", "kind": "planet"}, 422, "kind"),
])
def test_bad_requests_are_clear(client, params, status, message):
    r = client.get("/api/v1/search", params=params)
    assert r.status_code == status and message in r.text and "Traceback" not in r.text


def test_openapi_documents_every_score(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/search" in schema["paths"]
    hit = schema["components"]["schemas"]["HitJSON"]["properties"]
    assert "room_weight" in hit["score"]["description"] and hit["metaverse_score"]["description"]
    assert client.get("/api/v1/health").json()["ok"] is True


def test_rest_routes_grant_no_cross_origin_reads(client):
    r = client.get("/api/v1/search", params={"q": "sea", "k": 1}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in {k.lower() for k in r.headers}


def test_get_and_post_take_the_same_names(client, service):
    """Issue 19: GET took q and POST text; both now take either, and GET takes every POST field."""
    by_get_q = client.get("/api/v1/search", params={"q": "stormy seas", "k": 3}).json()
    by_get_text = client.get("/api/v1/search", params={"text": "stormy seas", "k": 3}).json()
    by_post_q = client.post("/api/v1/search", json={"q": "stormy seas", "k": 3}).json()
    by_post_text = client.post("/api/v1/search", json={"text": "stormy seas", "k": 3}).json()
    ids = [h["id"] for h in by_post_text["results"]]
    assert ids == [h["id"] for h in by_get_q["results"]] == [h["id"] for h in by_get_text["results"]] \
        == [h["id"] for h in by_post_q["results"]]
    key = by_post_text["results"][0]["rooms"][0]["images"][0]["key"]
    assert client.get("/api/v1/search", params={"image_key": key, "k": 2}).json()["query"]["type"] == \
        client.post("/api/v1/search", json={"image_key": key, "k": 2}).json()["query"]["type"]
    a, b = ids[:2]
    repeated = client.get("/api/v1/search", params=[("metaverse_ids", a), ("metaverse_ids", b), ("k", 4)]).json()
    commas = client.get("/api/v1/search", params={"metaverse_ids": f"{a},{b}", "k": 4}).json()
    posted = client.post("/api/v1/search", json={"metaverse_ids": [a, b], "k": 4}).json()
    assert [h["id"] for h in repeated["results"]] == [h["id"] for h in commas["results"]] \
        == [h["id"] for h in posted["results"]]
    both = client.get("/api/v1/search", params={"q": "sea", "text": "sea"})
    assert both.status_code == 400 and "not both" in both.json()["error"]


def test_image_urls_are_absolute_and_take_a_size(client, monkeypatch):
    body = client.get("/api/v1/search", params={"q": "stormy seas", "k": 2, "image_size": 128}).json()
    url = body["results"][0]["rooms"][0]["images"][0]["url"]
    assert url.startswith("http://testserver/thumbs/") and url.endswith(".png?size=128")
    png = client.get(url.replace("http://testserver", ""))
    from io import BytesIO

    from PIL import Image
    assert png.status_code == 200 and Image.open(BytesIO(png.content)).size[0] == 128
    plain = client.post("/api/v1/search", json={"text": "stormy seas", "k": 1}).json()
    assert plain["results"][0]["rooms"][0]["images"][0]["url"].endswith(".png")   # 64 px: the route's default
    monkeypatch.setenv("SPACE_HOST", "someone-metaverse-search.hf.space")
    on_space = client.get("/api/v1/search", params={"q": "stormy seas", "k": 1}).json()
    assert on_space["results"][0]["rooms"][0]["images"][0]["url"].startswith(
        "https://someone-metaverse-search.hf.space/thumbs/")
    bad = client.get("/api/v1/search", params={"q": "sea", "image_size": 77})
    assert bad.status_code == 400 and "image_size 77 is not offered" in bad.json()["error"]
