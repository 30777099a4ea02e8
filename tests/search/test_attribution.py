"""Per-room attribution shares."""
import numpy as np

from backend.search.attribution import room_shares


def test_one_room_carries_everything():
    s = room_shares(np.array([0.3]), 0.5, np.array([np.nan]))
    assert s["contribution"].tolist() == [1.0]


def test_shares_sum_to_one_and_follow_the_drop():
    # room 2 matters most: removing it drops the score the most and it matches the query best
    s = room_shares(np.array([0.1, 0.2, 0.6]), 0.7, np.array([0.69, 0.68, 0.30]))
    assert abs(s["contribution"].sum() - 1) < 1e-9
    assert int(np.argmax(s["contribution"])) == 2
    assert s["contribution"][2] > 0.8


def test_no_positive_drop_falls_back_to_room_space():
    s = room_shares(np.array([0.5, 0.1]), 0.4, np.array([0.45, 0.5]))
    assert abs(s["contribution"].sum() - 1) < 1e-9
    assert s["contribution"][0] > s["contribution"][1]
