"""Scale consistency of the demo tower: large renders move toward their 64 px twin, 64 px outputs stay put; the build
step rewrites only the tower and keeps the bundle loadable."""
from __future__ import annotations

import pytest
import torch

from backend.encoders.demo import ImageTower
from backend.world.generate import generate_world


def _refs(n=60):
    world = generate_world(seed=3, n_museums=6, n_games=2)
    return [ref for m in world for room in m.info.rooms for ref in room.images if ref][:n]


def test_the_shipped_tower_places_a_large_render_next_to_its_64px_twin():
    """The committed demo tower after `build tower-scale`: a 512 px render shrunk to 64 px lands next to the 64 px
    render of the same recipe (the tower before the fine-tune: mean cosine 0.71 on held-out recipes)."""
    import numpy as np

    from backend.encoders.demo import images_to_tensor, load_tower
    from backend.paths import REPO
    from backend.world.render import render_image
    tower, _ = load_tower(REPO / "precomputed" / "image_tower.pt")
    refs = [dict(r, seed=10_000 + i) for i, r in enumerate(_refs(24))]     # seeds no metaverse uses
    with torch.no_grad():
        small = torch.nn.functional.normalize(tower(images_to_tensor([render_image(r, 64) for r in refs], 64)), dim=-1)
        large = torch.nn.functional.normalize(tower(images_to_tensor([render_image(r, 512) for r in refs], 64)), dim=-1)
    assert float(np.mean((small * large).sum(1).numpy())) > 0.85


def test_fit_scale_consistency_measures_and_keeps_the_anchor():
    from backend.encoders.demo import load_tower
    from backend.paths import REPO
    from backend.training.tower_scale import fit_scale_consistency
    torch.manual_seed(0)
    tower, _ = load_tower(REPO / "precomputed" / "image_tower.pt")
    same, rep0 = fit_scale_consistency(tower, _refs(), n_refs=48, epochs=1, lr=0.0, sizes=(256,), batch_size=16,
                                       heldout=12)
    assert rep0["after"] == rep0["before"] and rep0["before"]["anchor_64"] == pytest.approx(1.0, abs=1e-4)
    student, rep = fit_scale_consistency(tower, _refs(), n_refs=48, epochs=2, lr=3e-4, anchor_weight=2.0,
                                         sizes=(128, 256), batch_size=16, heldout=12)
    assert rep["after"]["anchor_64"] > 0.95                 # 64 px outputs (the stored features) barely move
    assert rep["after"]["scale_256"] >= rep["before"]["scale_256"] - 0.02
    assert {"refs", "heldout", "epochs", "seconds", "final_loss"} <= set(rep)
    assert not student.training and any(not torch.equal(a, b) for a, b in zip(student.state_dict().values(),
                                                                             tower.state_dict().values()))


def test_too_few_recipes_is_a_clear_error():
    from backend.training.tower_scale import fit_scale_consistency
    with pytest.raises(ValueError, match="at least 10 image recipes"):
        fit_scale_consistency(ImageTower(), _refs(5))


def test_build_tower_scale_rewrites_only_the_tower(bundle_copy, monkeypatch):
    import json

    from backend.ops import build
    from backend.service import SearchService
    monkeypatch.setattr(build, "TOWER_SCALE", dict(n_refs=40, epochs=1, anchor_weight=2.0, lr=3e-4))
    before = json.loads((bundle_copy / "manifest.json").read_text())["artifacts"]
    report = build.build_tower_scale(bundle_copy)
    after = json.loads((bundle_copy / "manifest.json").read_text())
    changed = {n for n in before if before[n]["sha256"] != after["artifacts"][n]["sha256"]}
    assert changed == {"image_tower.pt"}
    assert after["reports"]["image_tower"]["scale_consistency"]["refs"] == report["refs"]
    svc = SearchService.from_bundle(bundle_copy)            # hash-checked and loadable
    assert svc.search(text="a harbour", k=3)["results"]
    with pytest.raises(ValueError, match="already fine-tuned for scale.*--base"):
        build.build_tower_scale(bundle_copy)                # a second run would anchor to the tuned outputs
    assert json.loads((bundle_copy / "manifest.json").read_text()) == after   # and nothing was written


def test_build_tower_scale_can_start_from_a_given_tower(bundle_copy, monkeypatch, tmp_path):
    """--base: the teacher (and student's start) is the given checkpoint, not the bundle's own tower."""
    from backend.encoders.demo import ImageTower, load_tower, save_tower
    from backend.ops import build
    from backend.training import tower_scale
    seen = {}

    def fake_fit(tower, refs, **kw):
        seen["state"] = {k: v.clone() for k, v in tower.state_dict().items()}
        return tower, {"refs": len(refs)}
    monkeypatch.setattr(tower_scale, "fit_scale_consistency", fake_fit)
    _, config = load_tower(bundle_copy / "image_tower.pt")
    base = ImageTower(**config["tower"])
    save_tower(base, tmp_path / "base.pt", {"seed": 1})
    build.build_tower_scale(bundle_copy, base=tmp_path / "base.pt")
    assert all((seen["state"][k] == v).all() for k, v in base.state_dict().items())
    stored, _ = load_tower(bundle_copy / "image_tower.pt")
    assert all((stored.state_dict()[k] == v).all() for k, v in base.state_dict().items())
