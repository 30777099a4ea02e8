"""Past its bound on searches in flight, the REST search answers 503 with Retry-After at once, loses nothing, and
takes the next request as soon as a place is free."""
from __future__ import annotations

import threading

from backend.api.admission import Admission


class _HeldSearch:
    """A service whose search waits until the test lets it go."""

    def __init__(self):
        self.entered, self.release, self.calls = threading.Event(), threading.Event(), 0

    def search(self, **kwargs) -> dict:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(60)
        return {"query": {"text": kwargs.get("text")}, "results": [], "timings_ms": {}}


def test_a_search_past_the_bound_gets_503_with_retry_after_and_the_next_one_is_served():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from backend.api.http import make_router
    service, admission = _HeldSearch(), Admission(limit=1)
    app = FastAPI()
    app.include_router(make_router(service, admission))
    client = TestClient(app)
    first = {}
    holder = threading.Thread(target=lambda: first.update(r=client.get("/api/v1/search", params={"q": "held"})))
    holder.start()
    assert service.entered.wait(60)
    busy = client.post("/api/v1/search", json={"text": "one too many"})
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert "busy" in busy.json()["error"] and service.calls == 1          # refused before it reached the service
    service.release.set()
    holder.join(60)
    assert first["r"].status_code == 200 and first["r"].json()["query"]["text"] == "held"
    again = client.get("/api/v1/search", params={"q": "after"})
    assert again.status_code == 200 and admission.in_flight == 0 and admission.refused == 1


def test_a_refused_or_failed_search_gives_its_place_back():
    admission = Admission(limit=2)
    with admission.slot() as a, admission.slot() as b, admission.slot() as c:
        assert (a, b, c) == (True, True, False) and admission.in_flight == 2
    try:
        with admission.slot():
            raise ValueError("the search failed")
    except ValueError:
        pass
    assert admission.in_flight == 0 and admission.refused == 1
