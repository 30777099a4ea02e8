"""The appending add's incremental steps give what a from-scratch build over the same collection gives: the
baseline's room and metaverse means, the grown feature arrays, the indexes' answers, and the map positions the
uncached placement computes; arrays handed to an earlier view never change."""
from __future__ import annotations

import numpy as np
import pytest

from backend.explore.maps import place_by_neighbours
from backend.grow.collection import extend_collection
from backend.grow.encode import encode_new
from backend.grow.rows import Rows
from backend.grow.spec import parse_spec
from backend.ops.bench_add import generated_spec
from backend.search.index import KindIndex
from backend.search.rankers.baseline import BaselineRanker


def _additions(base, lo: int, hi: int):
    dim = base.encoder.dim
    return [encode_new(parse_spec(generated_spec(i, dim), dim=dim), base.encoder) for i in range(lo, hi)]


@pytest.fixture(scope="module")
def chain(base):
    """The bundle's view extended twice (3 additions, then 2), as appended views do, keeping every step."""
    rows = {}
    col0, rankers0, explore0 = base.collection, base.engine.rankers, base._view.explore
    col1 = extend_collection(col0, _additions(base, 0, 3), rows)
    first = {name: rows[name].array.copy() for name in rows}
    rankers1 = {n: r.extended(col1) for n, r in rankers0.items()}
    explore1 = explore0.extended(col1, rankers1)
    col2 = extend_collection(col1, _additions(base, 3, 5), rows)
    rankers2 = {n: r.extended(col2) for n, r in rankers1.items()}
    explore2 = explore1.extended(col2, rankers2)
    return {"cols": (col0, col1, col2), "rankers": (rankers0, rankers1, rankers2),
            "explore": (explore0, explore1, explore2), "first": first}


def test_grown_feature_arrays_equal_a_concatenation_and_leave_earlier_ones_unchanged(base, chain):
    col0, col1, col2 = chain["cols"]
    adds = _additions(base, 0, 5)
    assert np.array_equal(col2.image_feats, np.concatenate([col0.image_feats] + [a.image_feats for a in adds]))
    assert np.array_equal(col2.sentence_embs, np.concatenate([col0.sentence_embs] + [a.sentence_embs for a in adds]))
    assert np.array_equal(col1.image_feats, chain["first"]["image_feats"])          # col2's rows went past col1's
    assert np.array_equal(col1.sentence_embs, chain["first"]["sentence_embs"])
    assert np.shares_memory(col1.image_feats, col2.image_feats)                        # grown, not copied


def test_rows_copy_when_a_second_branch_appends_to_the_same_prefix():
    a = Rows(np.arange(6, dtype=np.float32).reshape(3, 2))
    b = a.appended(np.full((2, 2), 7, np.float32))
    c = a.appended(np.full((1, 2), 9, np.float32))                                     # b already wrote past a
    assert np.array_equal(b.array[3:], np.full((2, 2), 7)) and np.array_equal(c.array[3:], np.full((1, 2), 9))
    assert not np.shares_memory(b.array, c.array)
    d = b.appended(np.ones((1, 2), np.float32))                                        # b's tail is free: in place
    assert np.shares_memory(b.array, d.array) and np.array_equal(d.array[:5], b.array)


def test_baseline_extended_equals_a_baseline_built_over_the_whole_collection(chain):
    col2 = chain["cols"][2]
    grown, scratch = chain["rankers"][2]["baseline"], BaselineRanker(col2, chain["rankers"][0]["baseline"].encoder)
    for name in ("room_sums", "room_counts", "room_vecs", "metaverse_sums", "metaverse_counts", "metaverse_vecs"):
        a, b = getattr(grown, name), getattr(scratch, name)
        assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b), name   # same sums, row by row


def test_appended_kind_index_answers_as_a_new_one(chain):
    col1, col2 = chain["cols"][1:]
    kinds = np.array([m.kind for m in col2.metaverses])
    vecs = chain["rankers"][2]["hicalm"].metaverse_vecs
    old = KindIndex(vecs[:col1.n_metaverses], kinds[:col1.n_metaverses], "t")
    grown, scratch = old.appended(vecs, kinds[col1.n_metaverses:]), KindIndex(vecs, kinds, "t")
    for q in vecs[-3:]:
        for kind in ("all", "museum", "game"):
            (sa, ia), (sb, ib) = grown.search(q, 10, kind), scratch.search(q, 10, kind)
            assert np.array_equal(ia, ib) and np.allclose(sa, sb, atol=1e-6)
    assert old.appended(vecs[:col1.n_metaverses], kinds[:0]).by_kind == old.by_kind  # nothing new: same indexes


def test_placement_with_kept_unit_vectors_equals_the_uncached_rule(chain):
    for step in (1, 2):                     # step 2 uses the unit rows step 1 kept, grown by its new rows
        before, after = chain["explore"][step - 1], chain["explore"][step]
        rankers = chain["rankers"][step]
        for (ranker, level), m in after.maps.items():
            vecs = rankers[ranker].metaverse_vecs if level == "metaverse" else rankers[ranker].room_vecs
            n = len(before.maps[(ranker, level)].coords)
            prior = before.maps[(ranker, level)].coords
            expected = np.array([place_by_neighbours(v, vecs[:n], prior) for v in vecs[n:]], np.float32)
            assert len(m.coords) == len(vecs)
            np.testing.assert_allclose(m.coords[n:], expected, rtol=0, atol=1e-5)
            assert np.array_equal(m.coords[:n], prior)
            kept = after._unit[(ranker, level)].array
            np.testing.assert_allclose(kept, vecs / np.linalg.norm(vecs.astype(np.float64), axis=1, keepdims=True),
                                       rtol=0, atol=1e-12)


def test_extend_checks_the_appended_rows(base, chain):
    import dataclasses
    bad = dataclasses.replace(_additions(base, 9, 10)[0], room_image_counts=np.array([3, 2]))   # 6 rows, 5 counted
    with pytest.raises(ValueError, match="image features"):
        extend_collection(chain["cols"][2], [bad])
