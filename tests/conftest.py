"""Shared fixtures: a tiny demo bundle built once per session (untrained tower, one HiCALM epoch)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Study judgements written by app processes the tests start go to a throw-away database, never to data/.
import tempfile  # noqa: E402

os.environ.setdefault("METAVERSE_STUDY_DB", str(Path(tempfile.mkdtemp(prefix="mv-study-")) / "studies.sqlite3"))
os.environ.setdefault("METAVERSE_STUDY_TOKEN", "test-token-" + os.urandom(8).hex())
# Metaverses added by tests (and by app processes they start) go to a throw-away store, never to data/additions.
os.environ.setdefault("METAVERSE_ADDITIONS", tempfile.mkdtemp(prefix="mv-additions-"))
os.environ.setdefault("METAVERSE_ADMIN_TOKEN", "admin-token-" + os.urandom(8).hex())
REPO = Path(__file__).resolve().parent.parent


def build_tiny_bundle(out: Path, with_hicalm: bool = True) -> Path:
    import torch
    from backend.ops.build import add_hicalm, world_to_collection
    from backend.data.bundle import BundleWriter
    from backend.encoders.demo import DemoEncoder, ImageTower, MiniLMTextEncoder, save_tower
    from backend.world.generate import generate_world
    torch.manual_seed(0)
    world = generate_world(seed=1, n_museums=24, n_games=10)
    encoder = DemoEncoder(MiniLMTextEncoder(), ImageTower())
    col = world_to_collection(world, encoder)
    writer = BundleWriter(out, manifest={
        "name": "tiny-test", "source": {"type": "demo", "seed": 1},
        "encoder": {"type": "demo", "name": encoder.name, "dim": encoder.dim, "tower": "image_tower.pt"},
        "rankers": {"baseline": {}}, "default_ranker": "baseline"})
    writer.add_file("image_tower.pt", lambda p: save_tower(encoder.tower, p, {"seed": 0, "epochs": 0}))
    writer.add_collection(col)
    if with_hicalm:
        from backend.training.train_hicalm import TrainConfig
        add_hicalm(writer, col, TrainConfig(epochs=1, seed=0), encoder)
    writer.commit()
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    """A private copy a test may damage."""
    dst = tmp_path / "copy"
    shutil.copytree(tiny_bundle, dst)
    return dst


@pytest.fixture(scope="session")
def service(tiny_bundle):
    from backend.service import SearchService
    return SearchService.from_bundle(tiny_bundle)
