"""Per-room attribution: which rooms carried a match, from room-level scores and leave-one-room-out drops."""
from __future__ import annotations

import numpy as np

# Softmax temperature over room-level cosine scores: 0.05 turns a 0.1 cosine gap into a ~7x weight ratio.
ROOM_TEMPERATURE = 0.05
# Weight of the occlusion signal against the room-level signal when both are informative.
OCCLUSION_WEIGHT = 0.5


def room_shares(room_scores: np.ndarray, metaverse_score: float, loo_scores: np.ndarray) -> dict[str, np.ndarray]:
    """Shares of one match carried by each of its rooms.

    room_scores (R,): query's room-level vector against each room vector.
    loo_scores (R,): the metaverse score with each room left out (nan where undefined, e.g. a one-room metaverse).
    Returns contribution (R,) summing to 1, plus both signals for display: the occlusion drop
    (metaverse_score - loo) and the room-level softmax share.
    """
    room_scores = np.asarray(room_scores, dtype=np.float64)
    R = len(room_scores)
    if R == 1:
        one = np.ones(1)
        return {"contribution": one, "occlusion_drop": np.zeros(1), "room_share": one}
    z = (room_scores - room_scores.max()) / ROOM_TEMPERATURE
    room_share = np.exp(z) / np.exp(z).sum()                                 # (R,)
    drop = metaverse_score - np.asarray(loo_scores, dtype=np.float64)        # (R,) > 0: the match needed this room
    drop = np.where(np.isnan(drop), 0.0, drop)
    positive = np.clip(drop, 0.0, None)
    if positive.sum() > 1e-9:
        occlusion_share = positive / positive.sum()
        contribution = OCCLUSION_WEIGHT * occlusion_share + (1 - OCCLUSION_WEIGHT) * room_share
    else:  # no room's removal lowers the score: rely on the room-level space alone
        contribution = room_share
    contribution = contribution / contribution.sum()
    return {"contribution": contribution, "occlusion_drop": drop, "room_share": room_share}
