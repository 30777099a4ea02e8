"""A query's room parts go to faiss in one call per kind: each answer is that part's own top list."""
from __future__ import annotations

import numpy as np
import pytest

from backend.data.kinds import KIND_FILTERS, KINDS
from backend.encoders.base import l2_normalise
from backend.search.index import KindIndex, VectorIndex, search_many


@pytest.mark.parametrize("approximate", [False, True])
def test_batched_parts_equal_single_searches(approximate):
    rng = np.random.default_rng(3)
    vecs = l2_normalise(rng.normal(size=(3000, 48)).astype(np.float32))
    kinds = np.array([KINDS[i % 3 == 0] for i in range(len(vecs))])
    index = KindIndex(vecs, kinds, approximate=approximate)
    queries = l2_normalise(rng.normal(size=(12, 48)).astype(np.float32))
    for kind in KIND_FILTERS:
        for k in (1, 10, 256, 5000):
            batch = search_many(index, queries, k, kind)
            assert len(batch) == len(queries)
            pool = np.flatnonzero(kinds == kind) if kind in KINDS else np.arange(len(vecs))
            for q, (scores, ids) in zip(queries, batch):
                want_scores, want_ids = index.search(q, k, kind)
                # the same list up to the order of scores within float rounding (faiss's product path vs one query)
                np.testing.assert_allclose(scores, want_scores, atol=1e-5)
                np.testing.assert_allclose(scores, vecs[ids] @ q, atol=1e-5)
                best = np.sort(vecs[pool] @ q)[::-1][:k]
                np.testing.assert_allclose(vecs[ids] @ q, best, atol=1e-5)
                assert len(set(ids.tolist())) == len(ids) == min(k, len(pool))
                if k <= 10:
                    np.testing.assert_array_equal(ids, want_ids)


def test_batch_of_one_or_none():
    vecs = l2_normalise(np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32))
    index = VectorIndex(vecs, np.arange(50))
    assert index.search_many(vecs[:0], 5) == []
    (scores, ids), = index.search_many(vecs[:1], 5)
    assert ids[0] == 0 and len(ids) == 5


def test_top_lists_from_a_product_equal_the_exact_index():
    """A typed query's room lists are read from the product its reading already took: the same lists, per kind."""
    from backend.search.index import top_lists
    rng = np.random.default_rng(5)
    vecs = l2_normalise(rng.normal(size=(700, 16)).astype(np.float32))
    kinds = np.array([KINDS[i % 3 == 0] for i in range(len(vecs))])
    index = KindIndex(vecs, kinds, approximate=False)
    queries = l2_normalise(rng.normal(size=(5, 16)).astype(np.float32))
    product = vecs @ queries.T                                                   # (N, Q)
    for kind in KIND_FILTERS:
        rows = np.flatnonzero(kinds == kind) if kind in KINDS else None
        for k in (1, 8, 256, 5000):
            got = top_lists(product, k, rows)
            for q, (scores, ids) in zip(queries, got):
                want_scores, want_ids = index.search(q, k, kind)
                np.testing.assert_array_equal(ids, want_ids)
                np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    assert [len(ids) for _, ids in top_lists(product, 0)] == [0] * 5


def test_candidates_from_a_reused_product_equal_an_index_search():
    from backend.data.kinds import ALL
    from backend.search.engine import find_candidates
    from backend.search.rankers.base import QueryVecs
    rng = np.random.default_rng(6)
    rooms = l2_normalise(rng.normal(size=(600, 16)).astype(np.float32))
    metaverses = l2_normalise(rng.normal(size=(100, 16)).astype(np.float32))
    owner = np.repeat(np.arange(100), 6)
    kinds = np.array([KINDS[i % 2] for i in range(100)])
    parts = l2_normalise(rng.normal(size=(3, 16)).astype(np.float32))
    mv_index, room_index = KindIndex(metaverses, kinds), KindIndex(rooms, kinds[owner])
    for kind in (ALL, *KINDS):
        plain = QueryVecs(metaverse=metaverses[0], room=parts[0], room_parts=parts, room_weight=2.0)
        reused = QueryVecs(metaverse=metaverses[0], room=parts[0], room_parts=parts, room_weight=2.0,
                           room_part_scores=rooms @ parts.T)
        a = find_candidates(mv_index, room_index, owner, plain, k=5, kind=kind, n_list=20)
        b = find_candidates(mv_index, room_index, owner, reused, k=5, kind=kind, n_list=20, room_kinds=kinds[owner])
        np.testing.assert_array_equal(a.rows, b.rows)
        assert abs(a.unseen_bound - b.unseen_bound) < 1e-5
        for (s1, i1), (s2, i2) in zip(a.part_rooms, b.part_rooms):
            np.testing.assert_array_equal(i1, i2)
            np.testing.assert_allclose(s1, s2, atol=1e-5)
            assert set(kinds[owner[i2]]) <= ({kind} if kind != ALL else set(KINDS))
