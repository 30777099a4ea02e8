"""Adding and removing metaverses over REST: token required, clear 4xx answers, searchable at once; --min-score."""
from __future__ import annotations

import base64
import io
import os

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def grown(tiny_bundle, tmp_path_factory):
    from backend.grow.store import AdditionStore, encoder_identity
    from backend.service import SearchService
    svc = SearchService.from_bundle(tiny_bundle)
    svc.enable_additions(AdditionStore(tmp_path_factory.mktemp("additions"), encoder_identity(svc.bundle)))
    return svc


@pytest.fixture(scope="module")
def client(grown):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from backend.api.http import make_router
    app = FastAPI()
    app.include_router(make_router(grown))
    return TestClient(app)


AUTH = {"Authorization": f"Bearer {os.environ['METAVERSE_ADMIN_TOKEN']}"}


def _png(colour) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def spec(mid="api-museum"):
    return {"id": mid, "kind": "museum", "title": "Red and blue",
            "description": "A small museum of two colours.\n\nA room of red squares.\n\nA room of blue squares.",
            "rooms": [{"title": "Red", "images": [_png((220, 20, 20)), _png((180, 30, 30))]},
                      {"title": "Blue", "images": [_png((20, 20, 220))]}]}


def test_adding_needs_the_admin_token(client):
    assert client.post("/api/v1/metaverses", json=spec()).status_code == 401
    r = client.post("/api/v1/metaverses", json=spec(), headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "wrong or missing admin token" in r.json()["error"]


def test_add_search_duplicate_remove(client, grown):
    r = client.post("/api/v1/metaverses", json=spec(), headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["searchable"] and r.json()["rooms"] == 2 and r.json()["images"] == 3
    hits = client.get("/api/v1/search", params={"q": "A room of red squares", "k": 50}).json()["results"]
    assert "api-museum" in [h["id"] for h in hits]
    assert client.get("/thumbs/api-museum/1/1.png").headers["content-type"] == "image/png"
    assert client.get("/api/v1/health").json()["additions"]["added"] == ["api-museum"]
    again = client.post("/api/v1/metaverses", json=spec(), headers=AUTH)
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    assert client.delete("/api/v1/metaverses/api-museum").status_code == 401
    assert client.delete("/api/v1/metaverses/api-museum", headers=AUTH).status_code == 200
    assert client.delete("/api/v1/metaverses/api-museum", headers=AUTH).status_code == 404
    hits = client.get("/api/v1/search", params={"q": "A room of red squares", "k": 50}).json()["results"]
    assert "api-museum" not in [h["id"] for h in hits]


@pytest.mark.parametrize("body, status, message", [
    ({**spec("bad-rooms"), "description": "Only an introduction."}, 400, "1 paragraphs but the metaverse has 2 rooms"),
    ({**spec("bad-dim"), "rooms": [{"title": "A", "features": [[1.0, 0.0]]},
                                   {"title": "B", "images": [_png((0, 0, 0))]}]}, 400, "features have shape"),
    ({**spec("no-images"), "rooms": [{"title": "A", "images": []}, {"title": "B", "images": [_png((0, 0, 0))]}]},
     400, "room 1 has no images"),
])
def test_bad_additions_get_a_clear_400_and_nothing_is_written(client, grown, body, status, message):
    r = client.post("/api/v1/metaverses", json=body, headers=AUTH)
    assert r.status_code == status and message in r.json()["error"]
    assert body["id"] not in grown.grow.status()["added"]


def test_not_json_and_oversized_bodies_are_refused(client, monkeypatch):
    r = client.post("/api/v1/metaverses", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    monkeypatch.setattr("backend.api.http.MAX_ADD_BYTES", 100)
    r = client.post("/api/v1/metaverses", json=spec("too-big"), headers=AUTH)
    assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_min_score_over_rest(client):
    top = client.get("/api/v1/search", params={"q": "seascapes", "k": 10}).json()["results"]
    floor = (top[3]["score"] + top[4]["score"]) / 2 if top[3]["score"] > top[4]["score"] + 2e-4 else top[3]["score"]
    r = client.get("/api/v1/search", params={"q": "seascapes", "k": 10, "min_score": floor}).json()
    ids = [h["id"] for h in r["results"]]
    assert ids == [h["id"] for h in top][:len(ids)] and len(ids) >= 3      # a prefix of the top k (scores rounded)
    assert all(h["score"] >= floor - 1e-4 for h in r["results"]) and r["query"]["min_score"] == pytest.approx(floor)
    assert client.get("/api/v1/search", params={"q": "seascapes", "min_score": 2}).status_code == 422
