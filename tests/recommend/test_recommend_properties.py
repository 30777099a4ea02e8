"""Property checks over many seeded random like-sets: the seeds, the split of k and each seed's reason agree."""
import re

import numpy as np
import pytest

from backend.recommend.seeds import recommend
from tests.recommend.test_recommend_seeds import THEME, VECS, brute_force_medoid

N_SETS = 60


def random_like_set(r: int) -> tuple[list[int], int, float, str]:
    """Set r: 1-4 themes, 1-12 items of each, a few stray items; k, d and mode drawn too (numpy default_rng(r))."""
    rng = np.random.default_rng(r)
    liked: list[int] = []
    for t in rng.choice(int(THEME.max()) + 1, size=int(rng.integers(1, 5)), replace=False):
        rows = np.flatnonzero(THEME == t)
        liked += rng.choice(rows, size=int(rng.integers(1, 13)), replace=False).tolist()
    stray = rng.choice(np.setdiff1d(np.arange(len(VECS)), liked), size=int(rng.integers(0, 4)), replace=False)
    liked = [int(i) for i in rng.permutation(liked + stray.tolist())]
    return liked, int(rng.integers(1, 31)), float(rng.choice([0.0, 0.1, 0.2, 0.5, 0.9, 1.0])), \
        str(rng.choice(["paper", "per-cluster"]))


def check_reason(r, s, liked) -> None:
    """The seed's reason is true of it: a medoid is its cluster's medoid of the size named, an outlier is in no
    cluster, an outer item is clustered and no medoid, a liked seed comes from the no-clusters branch."""
    labels = dict(zip(liked, r.liked_labels))
    if s.role == "medoid":
        members = [i for i in liked if labels[i] == s.cluster]
        assert s.index == brute_force_medoid(members)
        assert f"({len(members)} liked items)" in s.reason
        n_clusters = r.params["n_clusters"]
        assert ("the only cluster" in s.reason) == (n_clusters == 1)
        assert n_clusters == 1 or f"of {n_clusters} clusters" in s.reason
    elif s.role == "outlier":
        assert labels[s.index] == -1 and s.cluster == -1
        n_noise = sum(c == -1 for c in r.liked_labels)
        assert f"(one of {n_noise})" in s.reason
    elif s.role == "outer":
        assert -1 not in r.liked_labels, "a stand-in while real outliers exist"
        assert labels[s.index] >= 0 and s.index not in {x.index for x in r.seeds if x.role == "medoid"}
    else:
        assert s.role == "liked" and r.params["branch"] == "no-clusters" and labels[s.index] == -1
        assert "every liked item is a seed" in s.reason or s.reason == "the only liked item"


@pytest.mark.parametrize("r", range(N_SETS))
def test_seeds_split_and_reasons_agree(r):
    liked, k, d, mode = random_like_set(r)
    rec = recommend(VECS, liked, k=k, d=d, mode=mode, seed=r)
    got = [it.index for it in rec.items]
    assert len(got) == k == rec.params["k_returned"] == sum(rec.split.values()) == sum(s.share for s in rec.seeds)
    assert len(set(got)) == k and not set(got) & set(liked)
    seeds = {s.index: s for s in rec.seeds}
    assert len(seeds) == len(rec.seeds), "a liked item is two seeds"
    assert {it.seed_index for it in rec.items} <= set(seeds)
    for s in rec.seeds:
        assert s.index in liked
        assert s.share == sum(it.seed_index == s.index for it in rec.items)
        assert s.share == 0 or s.role in rec.split
        check_reason(rec, s, liked)
        if s.share == 0:                                                     # a seed that gave nothing says why
            assert re.search(r"rounds to 0|not every seed gives one", s.reason), s.reason
    for role, n in rec.split.items():
        assert n == sum(s.share for s in rec.seeds if s.role == role)
    if rec.params["branch"] == "no-clusters":
        assert sorted(seeds) == sorted(liked)                                # every liked item is a seed ...
        if k >= len(liked):
            assert all(s.share >= 1 for s in rec.seeds)                      # ... and each gives a result
        assert set(rec.ignored) == {"d", "mode"}
    else:
        n_out = sum(s.share for s in rec.seeds if s.role in ("outlier", "outer"))
        assert n_out == int(np.floor(d * k + 0.5 + 1e-9))                    # d always acts once there is a cluster
        assert ("d" in rec.ignored) == (d > 0 and n_out == 0)
    again = recommend(VECS, liked, k=k, d=d, mode=mode, seed=r)             # determinism per seed
    assert (again.seeds, again.items, again.split, again.ignored) == (rec.seeds, rec.items, rec.split, rec.ignored)


def test_the_property_sets_reach_every_branch_and_role():
    branches, roles = set(), set()
    for r in range(N_SETS):
        liked, k, d, mode = random_like_set(r)
        rec = recommend(VECS, liked, k=k, d=d, mode=mode, seed=r)
        branches.add(rec.params["branch"])
        roles |= {s.role for s in rec.seeds}
    assert branches == {"no-clusters", "one-cluster", "clusters"}
    assert {"medoid", "outlier", "outer", "liked"} <= roles
