"""Seed-based recommendation (D3.2 §4.2.2): every branch on blobs on a sphere, invariants, reproducibility, errors."""
import numpy as np
import pytest

from backend.recommend.seeds import (Recommendation, _apportion, default_min_cluster_size, intra_list_diversity,
                                     recommend)

N_PER, N_THEMES, DIM = 40, 10, 16


def sphere_blobs(n_per: int = N_PER, n_themes: int = N_THEMES, dim: int = DIM, spread: float = 0.25, seed: int = 0):
    """Tight blobs around n_themes axes, L2-normalised: (n_per * n_themes, dim) float32 and theme ids.

    Themes 0-5 lean towards a shared axis (centres 1.21 apart), themes 6+ are orthogonal to everything (1.41 apart),
    so a single liked item of theme 6+ joins a liked cluster of themes 0-5 only after the clusters have merged.
    """
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:n_themes]
    centres[:6, dim - 1] = 0.6
    theme = np.repeat(np.arange(n_themes), n_per)                            # (N,)
    v = centres[theme] / np.linalg.norm(centres[theme], axis=1, keepdims=True)
    v = v + spread * rng.normal(size=(len(theme), dim)) / np.sqrt(dim)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), theme


VECS, THEME = sphere_blobs()


def of_theme(t: int, n: int) -> list[int]:
    return [int(i) for i in np.flatnonzero(THEME == t)[:n]]


def check_invariants(r: Recommendation, liked, k: int, mask=None) -> None:
    idx = [it.index for it in r.items]
    assert len(idx) == k == r.params["k_returned"]
    assert len(set(idx)) == k, "an item appears twice"
    assert not set(idx) & set(liked), "a liked item was recommended back"
    assert sum(s.share for s in r.seeds) == k
    assert sum(r.split.values()) == k
    seeds = {s.index: s for s in r.seeds}
    for it in r.items:
        assert it.seed_index in seeds
        assert it.score == pytest.approx(float(VECS[it.index] @ VECS[it.seed_index]), abs=1e-5)
    for s in r.seeds:
        assert s.share == sum(it.seed_index == s.index for it in r.items)
    if mask is not None:
        assert all(mask[i] for i in idx)
    assert r.ild == pytest.approx(intra_list_diversity(VECS[idx]), abs=1e-9)


def brute_force_medoid(rows: list[int]) -> int:
    v = VECS[rows].astype(np.float64)
    cost = (1 - v @ v.T).sum(axis=1)                                         # summed cosine distance to the others
    return rows[int(np.argmin(cost))]


# ---- branches -------------------------------------------------------------------------------------------------
def test_one_liked_item_is_the_only_seed_and_gives_its_top_k():
    r = recommend(VECS, [5], k=7)
    assert r.params["branch"] == "no-clusters"
    assert [(s.index, s.role, s.cluster, s.share) for s in r.seeds] == [(5, "liked", -1, 7)]
    scores = VECS @ VECS[5]
    scores[5] = -np.inf
    assert [it.index for it in r.items] == list(np.argsort(-scores, kind="stable")[:7])
    check_invariants(r, [5], 7)


def test_zero_clusters_every_liked_item_is_a_seed_and_results_are_sampled():
    liked = [of_theme(t, 1)[0] for t in range(5)]                            # five themes, one item each
    r = recommend(VECS, liked, k=12)
    assert r.params["branch"] == "no-clusters"
    assert r.params["clustering"]["gain"] < 0.2                              # the lone cluster was rejected
    assert sorted(s.index for s in r.seeds) == sorted(liked)
    assert all(s.role == "liked" and s.cluster == -1 for s in r.seeds)
    assert r.liked_labels == (-1,) * 5 and r.split == {"liked": 12}
    scores = [it.score for it in r.items]
    assert scores == sorted(scores, reverse=True)                            # best first overall
    assert all(s.share >= 1 for s in r.seeds)                                # k >= 5: every liked seed gives one
    # each seed's own best item is credited to it; every other item to the liked item it is closest to
    own = set()
    for s in r.seeds:
        sc = VECS @ VECS[s.index]
        sc[liked] = -np.inf
        sc[list(own)] = -np.inf
        own.add(int(np.argmax(sc)))
    for it in r.items:
        if it.index not in own:
            assert it.seed_index == liked[int(np.argmax(VECS[liked] @ VECS[it.index]))]
    check_invariants(r, liked, 12)


def test_two_liked_items_are_too_few_to_cluster():
    liked = of_theme(0, 2)
    r = recommend(VECS, liked, k=6)
    assert r.params["branch"] == "no-clusters" and r.params["clustering"]["pass"] == "none"
    check_invariants(r, liked, 6)


def test_one_cluster_gives_medoid_80_and_outlier_20():
    core = of_theme(0, 8)
    liked = core + of_theme(6, 1) + of_theme(7, 1)
    r = recommend(VECS, liked, k=10, d=0.2)
    assert r.params["branch"] == "one-cluster"
    assert r.liked_labels == (0,) * 8 + (-1, -1)
    medoid, outlier = r.seeds
    assert (medoid.role, medoid.cluster, medoid.share) == ("medoid", 0, 8)
    assert medoid.index == brute_force_medoid(core)
    assert medoid.reason == "medoid of the only cluster (8 liked items)"
    assert (outlier.role, outlier.cluster, outlier.share) == ("outlier", -1, 2)
    assert outlier.index in liked[8:]
    assert r.split == {"medoid": 8, "outlier": 2}
    assert all(THEME[it.index] == 0 for it in r.items if it.seed_index == medoid.index)
    check_invariants(r, liked, 10)


def test_two_clusters_split_the_medoid_share_and_an_outlier_gets_d():
    big, small = of_theme(0, 10), of_theme(1, 6)
    liked = big + small + of_theme(6, 1) + of_theme(7, 1)
    r = recommend(VECS, liked, k=11, d=0.2)
    assert r.params["branch"] == "clusters" and r.params["n_clusters"] == 2
    assert r.liked_labels == (0,) * 10 + (1,) * 6 + (-1, -1)
    m0, m1, out = r.seeds
    # d·k = 2.2 -> 2 outlier items; 9 left split 5/4, the odd one to the larger cluster
    assert [(s.role, s.cluster, s.share) for s in r.seeds] == [("medoid", 0, 5), ("medoid", 1, 4), ("outlier", -1, 2)]
    assert m0.index == brute_force_medoid(big) and m1.index == brute_force_medoid(small)
    assert m0.reason == "medoid of the largest of 2 clusters (10 liked items)"
    assert m1.reason == "medoid of the 2nd-largest of 2 clusters (6 liked items)"
    assert out.reason.startswith("random outlier")
    assert {THEME[it.index] for it in r.items if it.seed_index == m1.index} == {1}
    check_invariants(r, liked, 11)


def test_paper_mode_uses_two_largest_clusters_per_cluster_mode_uses_all():
    liked = of_theme(0, 12) + of_theme(1, 8) + of_theme(2, 6) + of_theme(6, 1) + of_theme(7, 1)
    paper = recommend(VECS, liked, k=20, d=0.2)
    assert paper.params["n_clusters"] == 3
    assert [(s.role, s.cluster, s.share) for s in paper.seeds] == [("medoid", 0, 8), ("medoid", 1, 8),
                                                                   ("outlier", -1, 4)]
    per = recommend(VECS, liked, k=20, d=0.2, mode="per-cluster")
    # 16 medoid items by cluster size 12:8:6 -> quotas 7.38, 4.92, 3.69 -> largest remainder 7, 5, 4
    assert [(s.role, s.cluster, s.share) for s in per.seeds] == [("medoid", 0, 7), ("medoid", 1, 5),
                                                                 ("medoid", 2, 4), ("outlier", -1, 4)]
    assert per.seeds[2].reason == "medoid of the 3rd-largest of 3 clusters (6 liked items)"
    assert {THEME[it.index] for it in per.items if it.seed_index == per.seeds[2].index} == {2}
    check_invariants(paper, liked, 20)
    check_invariants(per, liked, 20)


def test_without_outliers_a_random_outer_liked_item_takes_d():
    liked = of_theme(0, 10) + of_theme(1, 6)
    r = recommend(VECS, liked, k=10, d=0.2)
    assert -1 not in r.liked_labels
    assert [(s.role, s.share) for s in r.seeds] == [("medoid", 4), ("medoid", 4), ("outer", 2)]
    assert r.split == {"medoid": 8, "outer": 2} and "d" not in r.ignored
    outer = r.seeds[2]
    assert outer.index in liked and outer.index not in {s.index for s in r.seeds[:2]}
    assert outer.reason.startswith("random outer liked item standing in for an outlier")
    # d acts: d = 0 gives the medoids everything and another list
    r0 = recommend(VECS, liked, k=10, d=0.0)
    assert r0.split == {"medoid": 10} and [it.index for it in r0.items] != [it.index for it in r.items]
    check_invariants(r, liked, 10)


def test_ignored_parameters_say_why():
    scattered = [of_theme(t, 1)[0] for t in range(5)]
    r = recommend(VECS, scattered, k=10, d=0.9, mode="per-cluster")
    assert r.params["branch"] == "no-clusters"
    assert "form none" in r.ignored["d"] and "no cluster" in r.ignored["mode"]
    one = recommend(VECS, of_theme(0, 8) + of_theme(6, 1), k=10, d=0.2, mode="per-cluster")
    assert one.params["branch"] == "one-cluster" and "one cluster" in one.ignored["mode"] and "d" not in one.ignored
    tiny = recommend(VECS, of_theme(0, 8) + of_theme(6, 1), k=4, d=0.1)
    assert "rounds to 0" in tiny.ignored["d"]
    equal = recommend(VECS, of_theme(0, 6) + of_theme(1, 6), k=10, d=0.2)     # two equal clusters: modes agree
    assert "the same seeds" in equal.ignored["mode"]
    unequal = recommend(VECS, of_theme(0, 10) + of_theme(1, 5), k=10, d=0.2)
    assert "mode" not in unequal.ignored
    assert set(recommend(VECS, [], k=3).ignored) == {"d", "mode"}


@pytest.mark.parametrize("d, expected", [(0.0, {"medoid": 10}), (1.0, {"outlier": 10}),
                                         (0.25, {"medoid": 7, "outlier": 3})])
def test_d_sets_the_outlier_share_rounded_half_up(d, expected):
    liked = of_theme(0, 8) + of_theme(6, 1) + of_theme(7, 1)
    r = recommend(VECS, liked, k=10, d=d)
    assert r.split == expected                                               # 0.25 * 10 = 2.5 -> 3
    check_invariants(r, liked, 10)


def test_cold_start_round_robin_over_collection_medoids():
    r = recommend(VECS, [], k=12)
    assert r.params["branch"] == "cold-start" and r.params["clustering"]["n_clusters"] == N_THEMES
    assert r.liked_labels == ()
    assert all(s.role == "collection-medoid" for s in r.seeds)
    assert sorted(THEME[s.index] for s in r.seeds) == list(range(N_THEMES))   # one medoid per theme
    assert sorted(s.share for s in r.seeds) == [1] * 8 + [2] * 2
    # round robin: the first len(seeds) items come from different seeds
    assert len({it.seed_index for it in r.items[:N_THEMES]}) == N_THEMES
    check_invariants(r, [], 12)


def test_cold_start_with_given_labels_uses_their_medoids():
    labels = np.where(THEME < 3, THEME, -1)                                  # three clusters, the rest noise
    r = recommend(VECS, [], k=4, collection_labels=labels)
    assert r.params["clustering"] == {"source": "given", "n_clusters": 3}
    assert [s.cluster for s in r.seeds] == [0, 1, 2]                         # equal sizes: ties by cluster id
    assert [s.index for s in r.seeds] == [brute_force_medoid(of_theme(t, N_PER)) for t in range(3)]
    assert [s.share for s in r.seeds] == [2, 1, 1]
    # the medoid itself is the best first pick of its own seed
    assert r.items[0].index == r.seeds[0].index and r.items[0].score == pytest.approx(1.0, abs=1e-5)
    check_invariants(r, [], 4)


def test_cold_start_without_clusters_falls_back_to_the_collection_medoid():
    r = recommend(VECS, [], k=3, collection_labels=np.full(len(VECS), -1))
    assert [(s.role, s.cluster, s.share) for s in r.seeds] == [("collection-medoid", -1, 3)]
    check_invariants(r, [], 3)


# ---- invariants, masks, reproducibility --------------------------------------------------------------------------
CASES = {
    "single": [3],
    "scattered": [of_theme(t, 1)[0] for t in range(6)],
    "one-cluster": of_theme(0, 8) + of_theme(6, 1),
    "clusters": of_theme(0, 10) + of_theme(1, 6) + of_theme(2, 5) + of_theme(8, 1),
    "cold": [],
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", ["paper", "per-cluster"])
@pytest.mark.parametrize("k", [1, 3, 17])
def test_counts_sum_to_k_no_liked_no_duplicates(case, mode, k):
    liked = CASES[case]
    check_invariants(recommend(VECS, liked, k=k, mode=mode, seed=3), liked, k)


def test_candidates_mask_limits_the_results():
    mask = THEME % 2 == 1                                                    # odd themes only
    liked = of_theme(1, 8) + of_theme(6, 1)
    r = recommend(VECS, liked, k=15, candidates_mask=mask)
    check_invariants(r, liked, 15, mask=mask)


def test_k_larger_than_what_is_left_is_clamped_and_recorded():
    mask = np.zeros(len(VECS), dtype=bool)
    mask[:5] = True                                                          # 5 candidates, 2 of them liked
    r = recommend(VECS, [0, 1], k=10, candidates_mask=mask)
    assert r.params["k_requested"] == 10 and r.params["k_returned"] == 3
    assert "returning 3 of k=10" in r.params["note"]
    assert sorted(it.index for it in r.items) == [2, 3, 4]
    check_invariants(r, [0, 1], 3)


def _outcome(r: Recommendation):
    return r.seeds, r.items, r.liked_labels, r.split, r.ild


@pytest.mark.parametrize("case", ["scattered", "one-cluster", "clusters"])
def test_a_seed_reproduces_a_run(case):
    liked = CASES[case]
    assert _outcome(recommend(VECS, liked, k=15, seed=7)) == _outcome(recommend(VECS, liked, k=15, seed=7))


def test_different_seeds_sample_differently():
    liked = CASES["scattered"]
    runs = {tuple(it.index for it in recommend(VECS, liked, k=15, seed=s).items) for s in range(5)}
    assert len(runs) > 1


# ---- diversity ---------------------------------------------------------------------------------------------------
def test_ild_against_a_hand_computation():
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0] / np.sqrt(2)])
    # pairs: (a, b) 1 - 0 = 1; (a, c) and (b, c) 1 - 1/sqrt(2) each
    expected = (1 + 2 * (1 - 1 / np.sqrt(2))) / 3
    assert intra_list_diversity(v) == pytest.approx(expected, abs=1e-12)
    assert intra_list_diversity(3 * v) == pytest.approx(expected, abs=1e-12)  # cosine ignores scale
    assert intra_list_diversity(v[:1]) == 0.0
    assert intra_list_diversity(np.zeros((0, 2))) == 0.0


def test_outliers_raise_diversity():
    liked = of_theme(0, 8) + of_theme(6, 1) + of_theme(7, 1)
    assert recommend(VECS, liked, k=10, d=0.5).ild > recommend(VECS, liked, k=10, d=0.0).ild


# ---- rules -------------------------------------------------------------------------------------------------------
def test_min_cluster_size_rule_and_apportion():
    assert [default_min_cluster_size(n) for n in (1, 9, 25, 49, 100, 200, 1000)] == [3, 3, 3, 4, 5, 7, 16]
    assert _apportion(7, [1, 1]) == [4, 3]
    assert _apportion(16, [12, 8, 6]) == [7, 5, 4]
    assert _apportion(0, [3, 2]) == [0, 0]


# ---- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"liked": [len(VECS)]}, r"unknown liked ids \[400\]; allowed: 0\.\.399"),
    ({"liked": [-1, 2]}, r"unknown liked ids \[-1\]"),
    ({"liked": [4, 2, 4]}, r"liked ids repeated: \[4\]"),
    ({"liked": [1.5]}, r"integer row indices"),
    ({"liked": "12"}, r"liked must be a list"),
    ({"k": 0}, r"k=0 is not allowed"),
    ({"k": 2.5}, r"k=2\.5 is not allowed"),
    ({"d": -0.1}, r"d=-0\.1 is not allowed.*\[0, 1\]"),
    ({"d": 1.5}, r"d=1\.5 is not allowed"),
    ({"mode": "greedy"}, r"mode='greedy' is not allowed; allowed: paper, per-cluster"),
    ({"min_cluster_size": 1}, r"min_cluster_size=1 is not allowed"),
    ({"temperature": 0}, r"temperature=0 is not allowed"),
    ({"candidates_mask": np.ones(3, dtype=bool)}, r"candidates_mask must be a boolean array of shape \(400,\)"),
    ({"candidates_mask": np.zeros(len(VECS), dtype=bool)}, r"nothing left to recommend"),
    ({"item_vecs": VECS * 2}, r"must be L2-normalised; row 0 has norm 2\.0"),
    ({"item_vecs": VECS[0]}, r"2-D array"),
    ({"collection_labels": np.zeros(3, dtype=int), "liked": []}, r"collection_labels must be integers"),
])
def test_bad_input_names_the_value(kwargs, message):
    args = {"item_vecs": VECS, "liked": [1, 2], "k": 5} | kwargs
    with pytest.raises(ValueError, match=message):
        recommend(**args)


def test_everything_liked_leaves_nothing():
    with pytest.raises(ValueError, match=r"nothing left to recommend: all 5 items are liked \(5\)"):
        recommend(VECS[:5], [0, 1, 2, 3, 4], k=1)
