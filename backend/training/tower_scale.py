"""Scale consistency for the demo image tower: the same picture uploaded at 64 px or at 1,024 px should land in the
same place.

The demo renderer draws detail that depends on resolution (strokes, dots, textures), so a 1,024 px render shrunk to
the tower's 64 px input is a different picture from the 64 px render the collection was encoded from (mean cosine
0.77 on the query set's renders). Shrinking filters do not close that gap (bilinear/box/Lanczos/blur: 0.74-0.79), so
the tower learns it: a student, initialised from the tower, is trained so that its output for a large render (shrunk
exactly as serving shrinks uploads) matches the original tower's output for the 64 px render of the same recipe,
while its output on 64 px renders stays where it was (so the collection's stored features and everything built on
them, HiCALM vectors and maps, remain valid). Recipes come from the collection's train split only; the query set's
renders use seeds no metaverse uses."""
from __future__ import annotations

import copy
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from backend.encoders.demo import ImageTower, images_to_tensor
from backend.world.render import render_image

SCALE_SIZES = (128, 256, 512, 1024)   # upload sizes the student sees, each shrunk to the tower's input size


def _renders(refs: Sequence[dict], sizes: Sequence[int], image_size: int, rng: np.random.Generator) -> torch.Tensor:
    """(N, 3, S, S) float: each ref rendered at a size drawn from `sizes`, shrunk as serving shrinks uploads."""
    return torch.cat([images_to_tensor([render_image(ref, int(rng.choice(sizes)))], image_size) for ref in refs])


@torch.no_grad()
def _embed(tower: ImageTower, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    tower.eval()
    return torch.cat([F.normalize(tower(x[i:i + batch]).float(), dim=-1) for i in range(0, len(x), batch)])


def fit_scale_consistency(tower: ImageTower, refs: Sequence[dict], *, n_refs: int = 4000, epochs: int = 6,
                          seed: int = 0, lr: float = 1e-4, anchor_weight: float = 1.0, batch_size: int = 128,
                          sizes: Sequence[int] = SCALE_SIZES, heldout: int = 400) -> tuple[ImageTower, dict]:
    """A copy of `tower` trained for scale consistency (see the module docstring), and a report with the anchor
    (student vs tower on 64 px renders) and scale (student on large renders vs tower on 64 px) cosines on held-out
    recipes before and after."""
    if len(refs) < 10:
        raise ValueError(f"need at least 10 image recipes, got {len(refs)}")
    heldout = min(heldout, len(refs) // 5)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    order = rng.permutation(len(refs))
    test_refs = [refs[i] for i in order[:heldout]]
    train_refs = [refs[i] for i in order[heldout:heldout + n_refs]]
    size = int(tower.config.get("image_size", 64)) if hasattr(tower, "config") else 64
    teacher = copy.deepcopy(tower).eval()
    small = images_to_tensor([render_image(r, size) for r in train_refs], size)          # (N, 3, S, S)
    targets = _embed(teacher, small)                                                     # (N, D)
    test_small = images_to_tensor([render_image(r, size) for r in test_refs], size)
    test_targets = _embed(teacher, test_small)
    test_large = {s: _renders(test_refs, [s], size, rng) for s in sizes}
    t_render = time.perf_counter() - t0

    def measure(model: ImageTower) -> dict:
        out = {"anchor_64": round(float((_embed(model, test_small) * test_targets).sum(1).mean()), 4)}
        for s, x in test_large.items():
            out[f"scale_{s}"] = round(float((_embed(model, x) * test_targets).sum(1).mean()), 4)
        return out

    before = measure(teacher)
    student = copy.deepcopy(tower).eval()   # eval: BatchNorm keeps the tower's statistics (the anchor depends on them)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        large = _renders(train_refs, sizes, size, rng)       # new sizes every epoch
        perm = torch.randperm(len(train_refs))
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            z_large = F.normalize(student(large[idx]).float(), dim=-1)
            z_small = F.normalize(student(small[idx]).float(), dim=-1)
            t = targets[idx]
            loss = (1 - (z_large * t).sum(1)).mean() + anchor_weight * (1 - (z_small * t).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    student.eval()
    after = measure(student)
    return student, {"refs": len(train_refs), "heldout": len(test_refs), "epochs": epochs, "lr": lr,
                     "sizes": list(sizes), "anchor_weight": anchor_weight, "seed": seed,
                     "final_loss": round(float(np.mean(losses[-10:])), 4), "before": before, "after": after,
                     "render_seconds": round(t_render, 1), "seconds": round(time.perf_counter() - t0, 1)}
