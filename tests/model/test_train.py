"""Training loop: runs, lowers the loss, reproducible, one scheduler step per epoch, augmentation and theme loss."""
import numpy as np
import pytest

from backend.eval.evaluate import evaluate_hicalm
from backend.model.hicalm import build_model
from backend.data.synthetic import make_synthetic_collection
from backend.training.train_hicalm import QueryAugmenter, TrainConfig, train_hicalm


@pytest.fixture(scope="module")
def coll():
    return make_synthetic_collection(24, seed=3, dim=16, family_size=2, splits=(0.6, 0.2))


def _cfg(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 8, "hidden": 32, "seed": 0, "typed_augment": 0.0, **kw})


def test_two_epochs_lower_loss_and_report(coll):
    model, report = train_hicalm(coll, _cfg(epochs=3), progress=False)
    losses = [e["loss"] for e in report["epochs"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert 1 <= report["best_epoch"] <= 3 and report["seconds"] > 0
    assert {"R@1", "R@5", "R@10", "MedR"} <= set(report["epochs"][0]["val"])
    assert not model.training
    out = evaluate_hicalm(model, coll, "test")
    assert 0.0 <= out["text_to_metaverse"]["R@1"] <= 1.0


def test_reproducible_and_scheduler_once_per_epoch(coll):
    cfg = _cfg(scheduler_step=1, scheduler_gamma=0.5)
    _, r1 = train_hicalm(coll, cfg, progress=False)
    _, r2 = train_hicalm(coll, cfg, progress=False)
    assert [e["loss"] for e in r1["epochs"]] == [e["loss"] for e in r2["epochs"]]
    assert [e["lr"] for e in r1["epochs"]] == [1e-3, 5e-4]


def test_augmentation_and_theme_loss_run(coll):
    _, report = train_hicalm(coll, _cfg(query_augment=0.5, theme_weight=0.25, variant="hicalm-avg"), progress=False)
    assert report["epochs"][0]["augment"] > 0
    aug = QueryAugmenter(coll, 3, np.random.default_rng(0))
    picked, ids = aug.sample(np.arange(6), 1.0)
    assert picked.tolist() == list(range(6)) and ids.ndim == 3
    for a, m in enumerate(range(6)):
        own = set(range(coll.paragraph_sentence_offsets[coll.metaverse_paragraph_offsets[m]],
                        coll.paragraph_sentence_offsets[coll.metaverse_paragraph_offsets[m + 1]]))
        used = set(ids[a][ids[a] >= 0].tolist())
        assert used and used <= own


def test_config_mismatch_raises(coll):
    with pytest.raises(ValueError, match=r"image_dim=384.*16"):
        train_hicalm(coll, _cfg(), progress=False, model=build_model("hicalm-rnn", image_dim=384))
    with pytest.raises(ValueError, match="query_augment"):
        TrainConfig(query_augment=2.0)
