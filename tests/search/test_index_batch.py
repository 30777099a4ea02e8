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
