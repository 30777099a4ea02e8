"""Collection maps: layout determinism, clusters against planted themes, c-TF-IDF terms, placement, save/load."""
import numpy as np
import pytest

from backend.explore.maps import (MapData, build_map, cluster_agreement, cluster_medoids, ctfidf_terms, load_map,
                                  place_by_neighbours, save_map)

SIZES = (60, 50, 40, 30, 12)                     # the last theme is smaller than min_cluster_size=20 below
WORDS = ("castle", "rocket", "garden", "harbor", "jungle")
FILLER = "the museum room shows a large hall with paintings and many visitors in it".split()
DIM = 16


def themed_collection(seed: int = 0):
    """Blobs around orthogonal axes (L2-normalised, (N, DIM) float32), theme ids, and texts that plant one word
    per theme among filler words shared by all."""
    rng = np.random.default_rng(seed)
    theme = np.repeat(np.arange(len(SIZES)), SIZES)                          # (N,)
    v = np.eye(DIM)[theme] + 0.25 * rng.normal(size=(len(theme), DIM)) / np.sqrt(DIM)
    texts = [" ".join([*rng.choice(FILLER, 6), WORDS[t]]) for t in theme]
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), theme, texts


VECS, THEME, TEXTS = themed_collection()


@pytest.fixture(scope="module")
def the_map() -> MapData:
    return build_map(VECS, TEXTS, seed=0)


def test_map_shapes_clusters_and_terms(the_map):
    m = the_map
    assert m.coords.shape == (len(VECS), 2) and m.coords.dtype == np.float32
    assert m.labels.shape == (len(VECS),) and m.labels.dtype == np.int64
    assert m.params["n_clusters"] == len(SIZES) and m.params["cluster_space"] == "umap-5d"
    assert cluster_agreement(m.labels, THEME)["adjusted_rand"] > 0.95
    # clusters are numbered by size, each labelled by its planted word
    for c in range(len(SIZES)):
        t = np.bincount(THEME[m.labels == c]).argmax()
        assert t == c
        assert m.cluster_terms[c][0] == WORDS[t] and len(m.cluster_terms[c]) == 3
    assert set(m.params["versions"]) == {"umap-learn", "hdbscan", "scikit-learn", "numpy", "numba", "pynndescent",
                                         "scipy"}   # all that decides the floats, with the host (reproducibility)
    assert set(m.params["host"]) == {"machine", "numba_cpu", "blas"}
    assert m.params["seed"] == 0 and m.params["n_neighbors"] == 15 and m.params["min_dist"] == 0.1


def test_medoids_are_members_and_minimise_cosine_distance(the_map):
    for c, i in the_map.medoids.items():
        members = np.flatnonzero(the_map.labels == c)
        assert i in members
        v = VECS[members].astype(np.float64)
        assert i == members[np.argmin((1 - v @ v.T).sum(axis=1))]


def test_same_seed_same_map(the_map):
    again = build_map(VECS, TEXTS, seed=0)
    assert np.array_equal(again.coords, the_map.coords)
    assert np.array_equal(again.labels, the_map.labels)
    assert again.cluster_terms == the_map.cluster_terms and again.medoids == the_map.medoids


def test_theme_below_min_cluster_size_is_not_a_cluster():
    m = build_map(VECS, TEXTS, seed=0, min_cluster_size=20, cluster_dims=2)
    assert m.params["cluster_space"] == "umap-2d" and m.params["min_cluster_size"] == 20
    assert m.params["n_clusters"] == len(SIZES) - 1
    small = THEME == len(SIZES) - 1
    assert all(np.mean(small[m.labels == c]) < 0.5 for c in range(m.params["n_clusters"]))


def test_unclustered_items_are_labelled_minus_one():
    # no two clusters of >= 100 items fit in 192: HDBSCAN leaves everything unclustered
    m = build_map(VECS, TEXTS, seed=0, min_cluster_size=100, cluster_dims=2)
    assert (m.labels == -1).all() and m.labels.dtype == np.int64
    assert m.cluster_terms == {} and m.medoids == {} and m.params["n_clusters"] == 0
    assert m.params["noise_fraction"] == 1.0
    assert cluster_agreement(m.labels, THEME)["noise_fraction"] == 1.0


def test_ctfidf_picks_the_planted_term():
    texts = ["the red dragon flies over the lake", "a dragon and a lake", "dragon eggs near the lake",
             "the lake is calm today", "a boat on the lake", "boat race on the lake", "unrelated lake words"]
    labels = np.array([0, 0, 0, 1, 1, 1, -1])
    terms = ctfidf_terms(texts, labels, n_terms=2)
    assert set(terms) == {0, 1}                                              # no terms for noise
    assert terms[0][0] == "dragon" and terms[1][0] == "boat"
    assert "lake" not in terms[0][:1] and "the" not in sum(terms.values(), [])  # shared word and stop words lose
    assert ctfidf_terms(["the a an", "of and"], np.array([0, 1])) == {0: [], 1: []}


def test_placing_an_item_lands_on_it(the_map):
    span = np.ptp(the_map.coords, axis=0)
    diagonal = float(np.hypot(*span))
    for i in (0, 75, 150):
        x, y = place_by_neighbours(VECS[i], VECS, the_map.coords, k=10)
        assert np.hypot(x - the_map.coords[i, 0], y - the_map.coords[i, 1]) < 0.05 * diagonal
    # k=1 returns the nearest item's coordinates exactly
    assert place_by_neighbours(VECS[3] * 5, VECS, the_map.coords, k=1) == pytest.approx(tuple(the_map.coords[3]))


def test_cluster_agreement_perfect_and_with_noise():
    themes = np.array(["a", "a", "b", "b", "c", "c"])
    perfect = cluster_agreement(np.array([2, 2, 0, 0, 1, 1]), themes)
    assert perfect["adjusted_rand"] == pytest.approx(1.0) and perfect["nmi"] == pytest.approx(1.0)
    assert perfect["noise_fraction"] == 0.0 and perfect["n_clusters"] == 3 and perfect["n_themes"] == 3
    noisy = cluster_agreement(np.array([0, 0, 1, 1, -1, -1]), themes)
    assert noisy["noise_fraction"] == pytest.approx(1 / 3)
    assert noisy["adjusted_rand_clustered"] == pytest.approx(1.0)            # the clustered part is perfect
    assert cluster_agreement(np.array([-1, -1]), np.array([0, 1]))["nmi_clustered"] is None


def test_save_load_round_trip(the_map, tmp_path):
    written = save_map(the_map, tmp_path / "maps", "museums")
    assert sorted(p.name for p in written) == ["museums.coords.npy", "museums.labels.npy", "museums.map.json"]
    back = load_map(tmp_path / "maps", "museums")
    assert np.array_equal(back.coords, the_map.coords) and back.coords.dtype == np.float32
    assert np.array_equal(back.labels, the_map.labels)
    assert back.cluster_terms == the_map.cluster_terms and back.medoids == the_map.medoids
    assert back.params == the_map.params


def test_load_rejects_inconsistent_files(the_map, tmp_path):
    save_map(the_map, tmp_path, "m")
    np.save(tmp_path / "m.labels.npy", the_map.labels[:5])
    with pytest.raises(ValueError, match=r"inconsistent"):
        load_map(tmp_path, "m")


@pytest.mark.parametrize("prefix", ["", "../up", "a/b", ".hidden"])
def test_bad_prefix(the_map, tmp_path, prefix):
    with pytest.raises(ValueError, match=r"prefix=.* is not allowed"):
        save_map(the_map, tmp_path, prefix)


@pytest.mark.parametrize("kwargs, message", [
    ({"texts": TEXTS[:-1]}, r"texts has 191 entries; it needs one per row of vecs \(192\)"),
    ({"texts": "one string"}, r"texts must be a sequence of strings"),
    ({"vecs": VECS[:5], "texts": TEXTS[:5]}, r"at least 8 items"),
    ({"n_neighbors": 1}, r"n_neighbors=1 is not allowed"),
    ({"min_dist": 2.0}, r"min_dist=2\.0 is not allowed"),
    ({"cluster_dims": 12}, r"cluster_dims=12 is not allowed"),
    ({"min_cluster_size": 1}, r"min_cluster_size=1 is not allowed"),
    ({"vecs": np.zeros((10, 4)), "texts": ["x"] * 10}, r"zero vectors"),
])
def test_build_map_bad_input(kwargs, message):
    args = {"vecs": VECS, "texts": TEXTS} | kwargs
    with pytest.raises(ValueError, match=message):
        build_map(**args)


def test_place_bad_input(the_map):
    with pytest.raises(ValueError, match=r"query_vec must be .* length 16"):
        place_by_neighbours(np.ones(3), VECS, the_map.coords)
    with pytest.raises(ValueError, match=r"coords must have shape \(192, 2\)"):
        place_by_neighbours(VECS[0], VECS, the_map.coords[:10])
    with pytest.raises(ValueError, match=r"k=0 is not allowed"):
        place_by_neighbours(VECS[0], VECS, the_map.coords, k=0)


def test_medoids_helper_ignores_noise():
    labels = np.array([0, 0, 0, -1])
    assert cluster_medoids(VECS[:4], labels).keys() == {0}
