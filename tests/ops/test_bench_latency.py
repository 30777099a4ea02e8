"""The backend latency bench times the hand-written typed queries beside its fixed ones."""
from __future__ import annotations


def test_typed_texts_are_the_query_sets_text_queries():
    from backend.ops.bench import typed_texts
    texts = typed_texts()
    assert len(texts) >= 120 and all(isinstance(t, str) and t.strip() for t in texts)


def test_backend_latency_reports_typed_queries(service, monkeypatch):
    from backend.ops import bench
    monkeypatch.setattr(bench, "typed_texts", lambda: ["grey seas pastel flowers", "a forest, then ruins"])
    out = bench.backend_latency(service, repeats=2)
    for ranker in service.rankers():
        assert out[ranker]["typed_text_ms"]["p50"] > 0
