"""`python -m backend bench-engines`: faiss against Milvus Lite on the served path, side by side.

One process holds three services over the same bundle, rankers and encoder: faiss (in-process), Milvus Lite as
served (a query's room parts in one search request, hits read from the gRPC response, sent together with the
metaverse request), the same with the two requests one after the other (as before session 11), and Milvus Lite one
request per part with pymilvus's parsed hits (the code before issue 21 item 3); the last two are kept only to compare.
Every query runs on all four back to back, their order rotated per query, so load from other work on the machine hits
each alike.
Per ranker and engine: p50/p95 of the engine's search step and of the whole service.search, Milvus requests per
query, and how many top-10 lists (ids and scores) equal faiss's. Since session 13 a typed HiCALM query's room lists
come from its reading's own product, so on that ranker only the metaverse request goes to the index.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.kinds import ALL, check_kind_filter
from backend.ops.bench import TEXT_QUERIES, _machine, _pct, typed_texts

ENGINES = ("faiss", "milvus", "milvus_serial", "milvus_per_part")
SCORE_TOL = 1e-4


class _Counted:
    """A LevelIndex that counts its requests to Milvus (search_many sends one for all its queries); remote=False makes
    the engine send a query's two requests one after the other."""

    def __init__(self, index, counter: list[int], remote: bool = True):
        self.index, self.counter, self.remote = index, counter, remote
        self._lock = threading.Lock()          # the engine's two requests may count from two threads

    def _count(self) -> None:
        with self._lock:
            self.counter[0] += 1

    def __len__(self) -> int:
        return len(self.index)

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        self._count()
        return self.index.search(query, k, kind)

    def search_many(self, queries: np.ndarray, k: int, kind: str = ALL) -> list[tuple[np.ndarray, np.ndarray]]:
        if not hasattr(self.index, "search_many"):                       # the per-part index: one request each
            return [self.search(q, k, kind) for q in queries]
        self._count()
        return self.index.search_many(queries, k, kind)


class _PerPartIndex:
    """A MilvusIndex searched as before issue 21 item 3: one request per query vector, hits parsed by pymilvus."""

    def __init__(self, index):
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def search(self, query: np.ndarray, k: int, kind: str = ALL) -> tuple[np.ndarray, np.ndarray]:
        ix = self.index
        kind = check_kind_filter(kind)
        k = min(int(k), ix.sizes[kind])
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        res = ix.client.search(ix.collection, data=[np.asarray(query, np.float32).ravel().tolist()], limit=k,
                               filter="" if kind == ALL else f'kind == "{kind}"', anns_field="vec",
                               search_params=ix._search_params, output_fields=[])
        hits = res[0]
        return (np.fromiter((h["distance"] for h in hits), np.float32, len(hits)),
                np.fromiter((h["id"] for h in hits), np.int64, len(hits)))


def _versions() -> dict:
    out = {}
    for name in ("faiss-cpu", "pymilvus", "milvus-lite"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _same(a: dict, b: dict) -> bool:
    ra, rb = a["results"], b["results"]
    return [r["id"] for r in ra] == [r["id"] for r in rb] and \
        np.allclose([r["score"] for r in ra], [r["score"] for r in rb], atol=SCORE_TOL)


def run_engines_bench(bundle: Path, rounds: int = 2, limit: Optional[int] = None, rankers: Optional[list[str]] = None,
                      uri: Optional[str] = None, out: Optional[Path] = None) -> dict:
    """rounds x (the six fixed bench texts + the typed query set, first `limit`) per ranker, on every engine."""
    from backend.search.engine import Engine
    from backend.search.index_milvus import MilvusIndexFactory
    from backend.service import SearchService

    os.environ.pop("METAVERSE_VECTOR_ENGINE", None)                       # the reference service is faiss
    faiss_service = SearchService.from_bundle(bundle)
    tmp = tempfile.TemporaryDirectory(prefix="bench-engines-")
    t0 = time.perf_counter()
    factory = MilvusIndexFactory(uri or str(Path(tmp.name) / "bench.db"))
    start_s = time.perf_counter() - t0
    counter = [0]                                                         # Milvus requests so far
    fe = faiss_service.engine

    def service(index_factory) -> SearchService:
        return SearchService(faiss_service.bundle, faiss_service.encoder,
                             Engine(fe.collection, fe.rankers, fe.default_ranker, index_factory=index_factory))

    t0 = time.perf_counter()
    services = {"faiss": faiss_service,
                "milvus": service(lambda vecs, kinds, name: _Counted(factory(vecs, kinds, name), counter)),
                "milvus_serial": service(lambda vecs, kinds, name: _Counted(factory(vecs, kinds, name), counter,
                                                                            remote=False)),
                "milvus_per_part": service(lambda vecs, kinds, name: _Counted(_PerPartIndex(factory(vecs, kinds, name)),
                                                                              counter, remote=False))}
    build_s = time.perf_counter() - t0
    texts = [*TEXT_QUERIES, *typed_texts()][:limit]
    rankers = rankers or list(fe.rankers)
    for s in services.values():                                           # warm: first calls pay for lazy set-up
        for r in rankers:
            s.search(text=texts[0], k=10, ranker=r)
    load = [os.getloadavg()[0]]
    per = {r: {e: {"search": [], "total": [], "requests": [], "same_as_faiss": 0} for e in ENGINES} for r in rankers}
    for rnd in range(rounds):
        for ranker in rankers:
            for i, text in enumerate(texts):
                order = ENGINES[i % len(ENGINES):] + ENGINES[:i % len(ENGINES)]
                got = {}
                for engine in order:
                    before = counter[0]
                    got[engine] = services[engine].search(text=text, k=10, ranker=ranker)
                    row = per[ranker][engine]
                    row["search"].append(got[engine]["timings_ms"]["search"])
                    row["total"].append(got[engine]["timings_ms"]["total"])
                    row["requests"].append(counter[0] - before)
                if rnd == 0:
                    for engine in ENGINES:
                        per[ranker][engine]["same_as_faiss"] += _same(got[engine], got["faiss"])
        load.append(os.getloadavg()[0])
    factory.close()
    tmp.cleanup()
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
        "versions": _versions(), "bundle": str(bundle), "queries_per_round": len(texts), "rounds": rounds,
        "load_average_1m": [round(x, 2) for x in load],
        "milvus_lite_start_s": round(start_s, 2), "milvus_build_or_reuse_s": round(build_s, 2), "rankers": {}}
    for ranker in rankers:
        rows = per[ranker]
        f_search, f_total = np.array(rows["faiss"]["search"]), np.array(rows["faiss"]["total"])
        report["rankers"][ranker] = {engine: {
            "search_ms": _pct(row["search"]), "total_ms": _pct(row["total"]),
            # paired per query: the same query run back to back on both engines
            "search_minus_faiss_ms_p50": round(float(np.median(np.array(row["search"]) - f_search)), 2),
            "total_minus_faiss_ms_p50": round(float(np.median(np.array(row["total"]) - f_total)), 2),
            "milvus_requests_per_query": {"p50": float(np.median(row["requests"])), "max": int(max(row["requests"]))},
            "top10_same_as_faiss": f"{row['same_as_faiss']}/{len(texts)}"} for engine, row in rows.items()}
    if out:
        import json
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return report
