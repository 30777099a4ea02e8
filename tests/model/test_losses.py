"""Hinge losses: reference normalisation, theme-aware term, hierarchical combination."""
import pytest
import torch

from backend.training.losses import hierarchical_loss, hinge_loss, query_hinge_loss, theme_aware_hinge_loss


def _loop_hinge(sim, margin, mask=None):
    N = len(sim)
    rows = cols = 0.0
    pairs = 0
    for i in range(N):
        for j in range(N):
            if i == j or (mask is not None and not mask[i][j]):
                continue
            rows += max(0.0, margin + sim[i][j] - sim[i][i])
            cols += max(0.0, margin + sim[i][j] - sim[j][j])
            pairs += 1
    return rows, cols, pairs


SIM = torch.tensor([[0.9, 0.8, 0.1], [0.7, 0.5, 0.6], [0.2, 0.95, 0.4]])


def test_hinge_matches_hand_loop():
    rows, cols, _ = _loop_hinge(SIM.tolist(), 0.25)
    expected = (rows / 6 + cols / 6) / 2      # each direction / B(B-1), then averaged (reference)
    assert hinge_loss(SIM, 0.25).item() == pytest.approx(expected, abs=1e-6)


def test_hinge_zero_when_separated_and_grad_flows():
    sim = torch.eye(4) * 0.9
    assert hinge_loss(sim, 0.25).item() == 0.0
    sim = SIM.clone().requires_grad_(True)
    hinge_loss(sim).backward()
    assert sim.grad is not None and sim.grad.abs().sum() > 0


def test_theme_aware_terms():
    cats = torch.tensor([0, 0, 1])
    same = [[c1 == c2 for c2 in cats.tolist()] for c1 in cats.tolist()]
    diff = [[not x for x in row] for row in same]
    r_d, c_d, n_d = _loop_hinge(SIM.tolist(), 0.25, diff)
    r_s, c_s, n_s = _loop_hinge(SIM.tolist(), 0.15, same)
    expected = 0.75 * (r_d + c_d) / n_d / 2 + 0.25 * (r_s + c_s) / n_s / 2
    got = theme_aware_hinge_loss(SIM, cats, 0.25, 0.15, 0.25).item()
    assert got == pytest.approx(expected, abs=1e-6)
    # all categories distinct and weight 0 -> the plain loss
    assert theme_aware_hinge_loss(SIM, torch.arange(3), weight=0.0).item() == pytest.approx(hinge_loss(SIM).item())
    with pytest.raises(ValueError, match="1.5"):
        theme_aware_hinge_loss(SIM, cats, weight=1.5)


def test_query_hinge_and_hierarchical():
    sim = torch.tensor([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    expected = (max(0, .25 + .8 - .9) + max(0, .25 + .1 - .9) + max(0, .25 + .1 - .3) + max(0, .25 + .2 - .3)) / 4
    assert query_hinge_loss(sim, torch.tensor([0, 2])).item() == pytest.approx(expected)
    torch.manual_seed(0)
    d, v, rt, rv = torch.randn(4, 8), torch.randn(4, 8), torch.randn(10, 8), torch.randn(10, 8)
    full = hierarchical_loss(d, v, rt, rv, lam=1.0)
    top = hierarchical_loss(d, v, rt, rv, lam=0.0)
    assert top["loss"].item() == pytest.approx(top["metaverse"].item())
    assert full["loss"].item() == pytest.approx((full["metaverse"] + full["room"]).item(), abs=1e-6)
    themed = hierarchical_loss(d, v, rt, rv, categories=torch.tensor([0, 0, 1, 1]), theme_weight=0.5)
    assert themed["loss"].item() != pytest.approx(full["loss"].item())
