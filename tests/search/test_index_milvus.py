"""Milvus behind the LevelIndex interface, against a real Milvus Lite server (the Milvus core as a subprocess, one per
module): the same top-k contract as faiss on the committed demo bundle, the env switch, idempotent collections,
a clear error for an unreachable server, and no server process left behind."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from backend.data.kinds import ALL, KIND_FILTERS, KINDS
from backend.search.index import KindIndex, search_many
from backend.search.index_choice import index_factory_from_env
from backend.search.index_milvus import MilvusIndexFactory, MilvusUnavailable, collection_name, index_spec
from tests.conftest import REPO

BUNDLE = REPO / "precomputed"
LEVELS = ("metaverse", "room")
TIE = 1e-5          # ids may swap only between items whose exact scores tie this closely
SCORE_TOL = 1e-4
TEXT_QUERIES = ("a room of seascapes then a room of portraits", "a racing game at night",
                "a museum of flower still lifes", "a dungeon crawler with torches")


@pytest.fixture(scope="module")
def faiss_service():
    from backend.service import SearchService
    return SearchService.from_bundle(BUNDLE)


@pytest.fixture(scope="module")
def lite_path(tmp_path_factory):
    return tmp_path_factory.mktemp("milvus") / "mv.db"


@pytest.fixture(scope="module")
def lite(lite_path):
    """One Milvus Lite server for the module; on teardown its process must be gone."""
    factory = MilvusIndexFactory(str(lite_path))
    from milvus_lite.server_manager import server_manager_instance   # imported by the factory (pkg_resources shim)
    server = server_manager_instance._servers.get(str(lite_path.resolve()))
    proc = getattr(server, "_p", None)
    assert proc is not None and proc.poll() is None, "Milvus Lite should run as a subprocess"
    yield factory
    factory.close()
    assert str(lite_path.resolve()) not in server_manager_instance._servers
    assert proc.poll() is not None, f"Milvus Lite server (pid {proc.pid}) still running after close()"


@pytest.fixture(scope="module")
def level_vecs(faiss_service):
    """(ranker, level) -> (vecs, kinds) exactly as the engine hands them to its index factory."""
    engine = faiss_service.engine
    kinds = np.array([m.kind for m in faiss_service.collection.metaverses])
    out = {}
    for name, rk in engine.rankers.items():
        out[name, "metaverse"] = (rk.metaverse_vecs, kinds)
        out[name, "room"] = (rk.room_vecs, kinds[engine.room_owner])
    return out


@pytest.fixture(scope="module")
def milvus_indexes(lite, level_vecs):
    return {key: lite(vecs, kinds, f"{key[0]}_{key[1]}") for key, (vecs, kinds) in level_vecs.items()}


def queries(vecs: np.ndarray, n_rows: int = 15, n_random: int = 15, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = vecs[rng.choice(len(vecs), n_rows, replace=False)]
    rand = rng.standard_normal((n_random, vecs.shape[1])).astype(np.float32)
    return np.concatenate([rows, rand / np.linalg.norm(rand, axis=1, keepdims=True)]).astype(np.float32)


def assert_same_top(vecs, kinds, q, kind, k, got, want):
    """got/want: (scores, ids). Same length and scores; ids equal except swaps between exact-score ties."""
    (gs, gi), (ws, wi) = got, want
    assert gi.dtype == np.int64 and gs.dtype == np.float32
    assert len(gi) == len(wi) and len(set(gi.tolist())) == len(gi)
    np.testing.assert_allclose(gs, ws, atol=SCORE_TOL)
    assert np.all(np.diff(gs) <= SCORE_TOL), "best first"
    if kind != ALL:
        assert set(kinds[gi]) <= {kind}
    exact = vecs @ q
    differ = gi != wi
    if differ.any():   # a different id at a position must score (exactly) what faiss's id there scores
        np.testing.assert_allclose(exact[gi[differ]], exact[wi[differ]], atol=TIE)
    return int(differ.any())


@pytest.mark.parametrize("level", LEVELS)
def test_top10_matches_faiss(level, level_vecs, milvus_indexes):
    checked = swapped = 0
    for ranker in ("baseline", "hicalm"):
        vecs, kinds = level_vecs[ranker, level]
        ref, mil = KindIndex(vecs, kinds), milvus_indexes[ranker, level]
        for q in queries(vecs):
            for kind in KIND_FILTERS:
                swapped += assert_same_top(vecs, kinds, q, kind, 10, mil.search(q, 10, kind), ref.search(q, 10, kind))
                checked += 1
    assert checked == 2 * 30 * len(KIND_FILTERS)
    assert swapped <= checked // 20, f"{swapped} of {checked} lists differ (by ties only), more than expected"


def test_candidate_sized_k_and_small_kinds(level_vecs, milvus_indexes):
    """The engine asks for 256 candidates; past a kind's size both engines return all its rows."""
    for level in LEVELS:
        vecs, kinds = level_vecs["hicalm", level]
        ref, mil = KindIndex(vecs, kinds), milvus_indexes["hicalm", level]
        q = queries(vecs, 1, 1)[1]
        for kind in KIND_FILTERS:
            for k in (1, 256, len(vecs) + 5):
                got, want = mil.search(q, k, kind), ref.search(q, k, kind)
                assert len(got[1]) == min(k, int((kinds == kind).sum()) if kind != ALL else len(vecs))
                assert_same_top(vecs, kinds, q, kind, k, got, want)
        assert len(mil.search(q, 0)[1]) == 0
        with pytest.raises(ValueError, match="Unknown kind"):
            mil.search(q, 5, "park")


def test_batched_search_matches_faiss_per_query(level_vecs, milvus_indexes):
    """The engine sends all room parts of a query in one request: each answer is faiss's list for that part alone."""
    for level in LEVELS:
        vecs, kinds = level_vecs["hicalm", level]
        ref, mil = KindIndex(vecs, kinds), milvus_indexes["hicalm", level]
        qs = queries(vecs, 3, 3, seed=4)
        for kind in KIND_FILTERS:
            for k in (8, 256):
                got, want = search_many(mil, qs, k, kind), search_many(ref, qs, k, kind)
                assert len(got) == len(want) == len(qs)
                for q, g, w, single in zip(qs, got, want, (ref.search(q, k, kind) for q in qs)):
                    assert_same_top(vecs, kinds, q, kind, k, g, w)
                    # faiss's batch is its single search, up to float rounding (its matrix-product path)
                    np.testing.assert_allclose(w[0], single[0], atol=1e-5)
                    assert set(w[1][w[0] > w[0][-1] + 1e-5].tolist()) <= set(single[1].tolist())
        assert [len(i) for _, i in mil.search_many(qs, 0)] == [0] * len(qs)
        assert mil.search_many(qs[:0], 5) == []


def test_public_client_path_gives_the_same_lists(level_vecs, milvus_indexes, monkeypatch):
    """Without the pinned pymilvus's internals, search_many falls back to MilvusClient.search: same lists."""
    from backend.search import index_milvus

    vecs, kinds = level_vecs["hicalm", "room"]
    mil, qs = milvus_indexes["hicalm", "room"], queries(vecs, 2, 2, seed=5)
    fast = mil.search_many(qs, 256, "museum")

    def not_pinned(*args, **kwargs):
        raise index_milvus._NotPinnedPymilvus("test")
    monkeypatch.setattr(index_milvus, "_search_arrays", not_pinned)
    for (fs, fi), (ps, pi) in zip(fast, mil.search_many(qs, 256, "museum")):
        assert np.array_equal(fi, pi) and np.array_equal(fs, ps) and ps.dtype == np.float32 and pi.dtype == np.int64


def test_service_with_milvus_ranks_like_faiss(faiss_service, milvus_indexes, lite, lite_path, monkeypatch):
    """End to end through the env switch: the served ranking (ids, scores, room matches) is faiss's."""
    from backend.service import SearchService
    monkeypatch.setenv("METAVERSE_VECTOR_ENGINE", "milvus")
    monkeypatch.setenv("METAVERSE_MILVUS_URI", str(lite_path))
    service = SearchService.from_bundle(BUNDLE)
    factory = service.engine.index_factory
    try:
        assert isinstance(factory, MilvusIndexFactory) and factory.uri == str(lite_path)
        # the contract tests stored these collections already: same fingerprint and row count -> reused, not rebuilt
        assert sorted(factory.reused) == sorted(collection_name(factory.prefix, f"{r}_{lv}")
                                                for r in service.rankers() for lv in LEVELS)
        for text in TEXT_QUERIES:
            for ranker in service.rankers():
                for kind in ("all", "museum"):
                    a = faiss_service.search(text=text, k=10, ranker=ranker, kind=kind)
                    b = service.search(text=text, k=10, ranker=ranker, kind=kind)
                    assert [r["id"] for r in b["results"]] == [r["id"] for r in a["results"]], (text, ranker, kind)
                    np.testing.assert_allclose([r["score"] for r in b["results"]],
                                               [r["score"] for r in a["results"]], atol=SCORE_TOL)
                    assert [[(m["metaverse_id"], m["room"]) for m in g["matches"]] for g in b["room_matches"]] == \
                           [[(m["metaverse_id"], m["room"]) for m in g["matches"]] for g in a["room_matches"]]
    finally:
        factory.client.close()   # the module's Milvus Lite server stays up for the other tests; `lite` stops it


def test_collections_are_rebuilt_only_when_the_vectors_change(lite):
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((60, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    kinds = np.array(["museum", "game", "museum"] * 20)
    lite.drop("tiny_level")
    lite(vecs, kinds, "tiny_level")
    coll = collection_name(lite.prefix, "tiny_level")
    assert coll in lite.build_seconds and coll not in lite.reused
    lite.build_seconds.clear()
    idx = lite(vecs, kinds, "tiny_level")
    assert coll in lite.reused and coll not in lite.build_seconds
    changed = vecs.copy()
    changed[7] = changed[8]
    idx = lite(changed, kinds, "tiny_level")
    assert coll in lite.build_seconds, "a changed vector must rebuild the collection"
    assert lite.count(coll) == len(vecs)          # dropped and re-inserted, not appended
    scores, ids = idx.search(changed[8], 2)
    assert set(ids.tolist()) == {7, 8} and np.allclose(scores, 1.0, atol=1e-5)
    lite.drop("tiny_level")


def test_large_collections_get_an_approximate_index_lite_accepts(lite_path):
    """Past exact_limit Milvus Lite gets IVF_FLAT (it has no HNSW); top-10 recall stays high for the candidates."""
    small = MilvusIndexFactory(str(lite_path), prefix="ivf_test", exact_limit=100)
    try:
        rng = np.random.default_rng(2)
        vecs = rng.standard_normal((2000, 32)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        kinds = np.where(np.arange(2000) % 4 == 0, "game", "museum")
        assert small.index_spec(2000)[0]["index_type"] == "IVF_FLAT"
        idx = small(vecs, kinds, "big")
        described = small.client.describe_index(idx.collection, small.client.list_indexes(idx.collection)[0])
        assert described["index_type"] == "IVF_FLAT"
        ref = KindIndex(vecs, kinds)
        recall = [len(set(idx.search(q, 10, kind)[1]) & set(ref.search(q, 10, kind)[1])) / 10
                  for q in vecs[:20] for kind in KIND_FILTERS]
        assert np.mean(recall) >= 0.9
        small.drop("big")
    finally:
        small.client.close()
    assert index_spec(2000, remote=True, exact_limit=100)[0]["index_type"] == "HNSW"
    assert index_spec(100, remote=True, exact_limit=100)[0]["index_type"] == "FLAT"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_a_clear_error():
    uri = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(MilvusUnavailable) as e:
        MilvusIndexFactory(uri, timeout=3)
    msg = str(e.value)
    assert uri in msg and "METAVERSE_MILVUS_URI" in msg and "METAVERSE_VECTOR_ENGINE=faiss" in msg
    with pytest.raises(MilvusUnavailable, match="METAVERSE_MILVUS_URI"):
        index_factory_from_env({"METAVERSE_VECTOR_ENGINE": "milvus", "METAVERSE_MILVUS_URI": uri})
    with pytest.raises(ValueError, match=r"must end in \.db"):
        MilvusIndexFactory("/tmp/not-a-db-file")


def test_env_switch_picks_the_factory(lite, lite_path):
    assert index_factory_from_env({}) is None
    assert index_factory_from_env({"METAVERSE_VECTOR_ENGINE": "faiss"}) is None
    assert index_factory_from_env({"METAVERSE_VECTOR_ENGINE": " FAISS "}) is None
    with pytest.raises(ValueError, match="METAVERSE_VECTOR_ENGINE='qdrant'.*faiss, milvus"):
        index_factory_from_env({"METAVERSE_VECTOR_ENGINE": "qdrant"})
    f = index_factory_from_env({"METAVERSE_VECTOR_ENGINE": "milvus", "METAVERSE_MILVUS_URI": str(lite_path)})
    try:
        assert isinstance(f, MilvusIndexFactory) and f.uri == str(lite_path) and not f.remote
    finally:
        f.client.close()


def test_bad_rows_are_refused(lite):
    vecs = np.eye(3, 4, dtype=np.float32)
    with pytest.raises(ValueError, match="do not match"):
        lite(vecs, np.array(["museum"] * 2), "bad")
    with pytest.raises(ValueError, match="unknown kinds"):
        lite(vecs, np.array(["museum", "park", "game"]), "bad")
    assert set(KINDS) == {"museum", "game"}
