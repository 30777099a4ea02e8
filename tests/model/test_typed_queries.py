"""Typed training queries (backend/training/typed_queries.py): drawn from room recipes with caption words only, read
as serving reads them, and trained on as an extra term."""
from __future__ import annotations

import numpy as np
import pytest

from backend.eval.queryset import room_recipes
from backend.training.typed_queries import MAX_ROOMS, TypedQueryPool, phrase, synth_query
from backend.world.generate import PALETTE_WORDS, STYLE_WORDS, SUBJECT_WORDS


class _HashEncoder:
    """Deterministic stand-in for the text encoder: a unit vector per text."""
    dim = 384

    def encode_text(self, texts):
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_phrases_use_caption_words_never_the_heldout_paraphrases():
    rng = np.random.default_rng(0)
    heldout = {w for table in (SUBJECT_WORDS, PALETTE_WORDS, STYLE_WORDS) for v in table.values() for w in v.heldout}
    for subject in SUBJECT_WORDS:
        for palette in PALETTE_WORDS:
            text = phrase({"subject": subject, "palette": palette, "style": next(iter(STYLE_WORDS))}, rng)
            assert text and not any(h in text for h in heldout)
            assert any(n in text for n in SUBJECT_WORDS[subject].names)


def test_synth_query_names_rooms_in_order(service):
    col = service.collection
    rng = np.random.default_rng(1)
    for m in range(min(20, col.n_metaverses)):
        q = synth_query(col, m, rng)
        assert q is not None and 1 <= len(q.rooms) <= MAX_ROOMS and list(q.rooms) == sorted(q.rooms)
        assert all(p in q.text for p in q.phrases)
        assert all(room_recipes(col, m)[r] for r in q.rooms)


def test_pool_samples_clause_and_phrase_ids(service):
    col = service.collection
    idx = col.split_indices("train")
    pool = TypedQueryPool.build(col, _HashEncoder(), idx, per_metaverse=3, seed=0)
    assert pool.embs.shape[1] == 384 and set(pool.clause_ids) <= {int(i) for i in idx}
    picked, clauses, phrase_ids, owners, rooms = pool.sample(np.asarray(idx[:8]), 1.0, np.random.default_rng(0))
    assert len(picked) == len(clauses) == 8 and (clauses[:, 0] >= 0).all()
    assert len(phrase_ids) == len(owners) == len(rooms) and set(owners) <= set(range(8))
    assert (phrase_ids < len(pool.embs)).all()


def test_training_with_typed_queries_runs_and_needs_a_pool(service):
    from backend.training.train_hicalm import TrainConfig, train_hicalm
    col = service.collection
    cfg = TrainConfig(epochs=1, batch_size=8, hidden=32, typed_augment=1.0)
    with pytest.raises(ValueError, match="TypedQueryPool"):
        train_hicalm(col, cfg, progress=False)
    pool = TypedQueryPool.build(col, _HashEncoder(), col.split_indices("train"), per_metaverse=2)
    _, report = train_hicalm(col, cfg, progress=False, typed_pool=pool)
    assert report["epochs"][0]["typed"] > 0
    with pytest.raises(ValueError, match="typed_augment"):
        TrainConfig(typed_augment=1.5)
