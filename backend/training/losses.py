"""Training losses for HiCALM: bidirectional in-batch hinge, hierarchical (metaverse + room) and theme-aware terms."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, H), (K, H) -> (N, K) cosine similarities."""
    return F.normalize(a, dim=-1, eps=1e-9) @ F.normalize(b, dim=-1, eps=1e-9).t()


def _directional_costs(sim: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, N) sims, positives on the diagonal -> hinge costs per pair for rows-as-queries and columns-as-queries."""
    pos = sim.diag()
    cost_rows = (margin + sim - pos.unsqueeze(1)).clamp(min=0)     # query i (row) vs its negatives j
    cost_cols = (margin + sim - pos.unsqueeze(0)).clamp(min=0)     # query j (column) vs its negatives i
    return cost_rows, cost_cols


def hinge_loss(sim: torch.Tensor, margin: float = 0.25) -> torch.Tensor:
    """Bidirectional hinge over all in-batch negatives, as in the reference: each direction's costs are summed and
    divided by N(N-1), and the two directions averaged. sim: (N, N) with positives on the diagonal."""
    N = sim.shape[0]
    if sim.ndim != 2 or sim.shape[1] != N:
        raise ValueError(f"hinge_loss needs a square similarity matrix, got shape {tuple(sim.shape)}")
    if N < 2:
        return sim.sum() * 0.0
    off_diag = ~torch.eye(N, dtype=torch.bool, device=sim.device)
    cost_rows, cost_cols = _directional_costs(sim, margin)
    denom = N * (N - 1)
    return ((cost_rows * off_diag).sum() / denom + (cost_cols * off_diag).sum() / denom) / 2


def theme_aware_hinge_loss(sim: torch.Tensor, categories: torch.Tensor, margin: float = 0.25,
                           within_margin: float = 0.15, weight: float = 0.25) -> torch.Tensor:
    """HM3's theme-aware loss: (1 - w) x hinge over negatives of a *different* category (margin `margin`) +
    w x hinge over negatives of the *same* category (smaller margin `within_margin`); each term normalised by its
    own number of pairs and averaged over both directions. categories: (N,) ints (give unknown themes unique ids)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"theme weight={weight} must lie in [0, 1] (HM3 used 0.05-0.75)")
    N = sim.shape[0]
    if categories.shape != (N,):
        raise ValueError(f"categories has shape {tuple(categories.shape)}, expected ({N},)")
    if N < 2:
        return sim.sum() * 0.0
    same = categories.unsqueeze(0) == categories.unsqueeze(1)                              # (N, N)
    off_diag = ~torch.eye(N, dtype=torch.bool, device=sim.device)
    different, same = (~same) & off_diag, same & off_diag

    def term(mask: torch.Tensor, m: float) -> torch.Tensor:
        cost_rows, cost_cols = _directional_costs(sim, m)
        denom = mask.sum().clamp(min=1)
        return ((cost_rows * mask).sum() / denom + (cost_cols * mask).sum() / denom) / 2

    return (1.0 - weight) * term(different, margin) + weight * term(same, within_margin)


def query_hinge_loss(sim: torch.Tensor, positives: torch.Tensor, margin: float = 0.25) -> torch.Tensor:
    """One-directional (query -> metaverse) hinge for Q extra queries against K items: sim (Q, K), positives (Q,)
    the column of each query's metaverse; normalised by Q(K-1). Used for augmented (partial) descriptions."""
    Q, K = sim.shape
    if Q == 0 or K < 2:
        return sim.sum() * 0.0
    pos = sim.gather(1, positives.view(-1, 1))                                             # (Q, 1)
    neg_mask = torch.ones_like(sim, dtype=torch.bool).scatter_(1, positives.view(-1, 1), False)
    return ((margin + sim - pos).clamp(min=0) * neg_mask).sum() / (Q * (K - 1))


def hierarchical_loss(description_vecs: torch.Tensor, metaverse_vecs: torch.Tensor,
                      room_text_vecs: torch.Tensor, room_vecs: torch.Tensor, lam: float = 1.0,
                      margin: float = 0.25, categories: Optional[torch.Tensor] = None,
                      theme_weight: float = 0.0, theme_margin: float = 0.15) -> dict[str, torch.Tensor]:
    """HiCALM's loss: metaverse-level hinge (B x B) + lam x room-level hinge over all N rooms of the batch (N x N).

    description_vecs, metaverse_vecs: (B, H); room_text_vecs, room_vecs: (N, H) (valid rooms only, same order).
    With theme_weight > 0 and categories (B,), the metaverse term is the theme-aware loss."""
    sim = cosine_matrix(description_vecs, metaverse_vecs)                                  # (B, B)
    if theme_weight > 0 and categories is not None:
        metaverse_term = theme_aware_hinge_loss(sim, categories, margin, theme_margin, theme_weight)
    else:
        metaverse_term = hinge_loss(sim, margin)
    room_term = hinge_loss(cosine_matrix(room_text_vecs, room_vecs), margin) if lam > 0 else sim.sum() * 0.0  # (N, N)
    return {"loss": metaverse_term + lam * room_term, "metaverse": metaverse_term.detach(), "room": room_term.detach()}
