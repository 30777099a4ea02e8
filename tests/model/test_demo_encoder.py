"""Tests of the offline demo encoder (MiniLM text + a tiny randomly initialised image tower)."""
import numpy as np
import pytest
import torch
from PIL import Image

from backend.encoders.base import Encoder
from backend.encoders.demo import DemoEncoder, ImageTower, MiniLMTextEncoder, load_tower, save_tower
from backend.world.render import render_image


@pytest.fixture(scope="module")
def text_encoder():
    return MiniLMTextEncoder(device="cpu")


@pytest.fixture(scope="module")
def encoder(text_encoder):
    torch.manual_seed(0)
    return DemoEncoder(text_encoder, ImageTower(channels=(8, 8, 16, 16), hidden=32))


def _images():
    ref = {"subject": "harbour with boats", "palette": "sunset oranges", "style": "pointillist", "seed": 5}
    return [render_image(ref), Image.new("RGBA", (40, 30), (10, 200, 30, 128)), Image.new("L", (64, 64), 77),
            Image.new("RGB", (1, 1), (255, 0, 0)), Image.new("RGB", (3000, 2000), (0, 0, 255)),
            Image.new("P", (20, 20))]


def test_protocol_and_names(encoder):
    assert isinstance(encoder, Encoder)
    assert encoder.name == "demo:all-MiniLM-L6-v2+tower" and encoder.dim == 384


def test_text_shapes_norms_and_long_text(encoder):
    embs = encoder.encode_text(["a stormy seascape in grey tones", "x " * 5000, "é" * 10000])
    assert embs.shape == (3, 384) and embs.dtype == np.float32
    assert np.allclose(np.linalg.norm(embs, axis=1), 1, atol=1e-4)
    assert encoder.encode_text([]).shape == (0, 384)


def test_text_is_semantic(encoder):
    q, near, far = encoder.encode_text(["a stormy sea", "waves crashing under grey clouds", "a bowl of fruit"])
    assert q @ near > q @ far


def test_bad_text_input_raises(encoder):
    with pytest.raises(ValueError, match="texts\\[1\\] is int, allowed: str"):
        encoder.encode_text(["ok", 3])
    with pytest.raises(ValueError, match="wrap it in a list"):
        encoder.encode_text("a single string")


def test_images_of_any_size_and_mode(encoder):
    embs = encoder.encode_image(_images())
    assert embs.shape == (6, 384) and embs.dtype == np.float32
    assert np.all(np.isfinite(embs)) and np.allclose(np.linalg.norm(embs, axis=1), 1, atol=1e-4)
    assert encoder.encode_image([]).shape == (0, 384)
    with pytest.raises(ValueError, match="images\\[0\\] is str"):
        encoder.encode_image(["not an image"])


def test_tower_forward_shape():
    tower = ImageTower(channels=(8, 8, 16, 16), hidden=32)
    assert tower(torch.rand(2, 3, 64, 64)).shape == (2, 384)
    with pytest.raises(ValueError, match="channels must list 4 conv widths"):
        ImageTower(channels=(8, 8))


def test_save_load_roundtrip(encoder, text_encoder, tmp_path):
    path = tmp_path / "tower.pt"
    save_tower(encoder.tower, path, {"world_seed": 3})
    tower, config = load_tower(path)
    assert config["world_seed"] == 3 and config["tower"]["channels"] == [8, 8, 16, 16]
    again = DemoEncoder(text_encoder, tower)
    images = _images()
    assert np.array_equal(encoder.encode_image(images), again.encode_image(images))
    with pytest.raises(ValueError, match="not found"):
        load_tower(tmp_path / "missing.pt")


def test_train_image_tower_smoke(text_encoder):
    from backend.training.train_tower import train_image_tower
    from backend.world.generate import generate_world

    world = generate_world(seed=2, n_museums=8, n_games=4)
    tower, report = train_image_tower(world, text_encoder, epochs=1, max_images=48, progress=False)
    assert report["epochs"] == 1 and report["train_images"] == 48
    for key in ("seconds", "heldout_text_to_image_R@10", "heldout_subject_in_top10",
                "heldout_subject_and_palette_in_top10"):
        assert key in report
    assert 0.0 <= report["heldout_subject_in_top10"] <= 1.0
    assert not tower.training
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        train_image_tower(world, text_encoder, epochs=0)
