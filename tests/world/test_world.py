"""Tests of the procedural demo world: determinism, structure, splits and families."""
from collections import Counter, defaultdict

import pytest

from backend.world.generate import ORDINALS, generate_world


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=3, n_museums=60, n_games=30)


def test_same_seed_same_world(world):
    again = generate_world(seed=3, n_museums=60, n_games=30)
    assert [m.info.to_json() for m in again] == [m.info.to_json() for m in world]
    assert [m.image_captions for m in again] == [m.image_captions for m in world]


def test_other_seed_other_world(world):
    other = generate_world(seed=4, n_museums=60, n_games=30)
    assert [m.info.paragraphs for m in other] != [m.info.paragraphs for m in world]


def test_ids_and_kinds(world):
    assert [m.info.id for m in world[:2]] == ["museum-0000", "museum-0001"]
    assert world[60].info.id == "game-0000" and world[-1].info.id == "game-0029"
    assert Counter(m.info.kind for m in world) == {"museum": 60, "game": 30}


def test_room_paragraph_and_sentence_counts(world):
    for m in world:
        n_rooms = len(m.info.rooms)
        lo, hi = (5, 8) if m.info.kind == "museum" else (4, 8)
        assert lo <= n_rooms <= hi
        assert len(m.info.paragraphs) == len(m.paragraph_sentences) == n_rooms + 1
        assert all(p == " ".join(s) for p, s in zip(m.info.paragraphs, m.paragraph_sentences))
        assert 1 <= len(m.paragraph_sentences[0]) <= 2
        for r, room in enumerate(m.info.rooms):
            n_images = len(room.images)
            assert 3 <= n_images <= 5 and room.index == r
            assert len(m.image_captions[r]) == n_images
            sentences = m.paragraph_sentences[r + 1]
            assert len(sentences) == n_images + 1
            unit = "paintings" if m.info.kind == "museum" else "frames"
            assert sentences[0].startswith(f"In the {ORDINALS[r]} ") and f"there are {n_images} {unit}." in sentences[0]
            for ref in room.images:
                assert set(ref) == {"subject", "palette", "style", "seed", "kind"} and ref["kind"] == m.info.kind


def test_split_fractions_per_kind():
    world = generate_world(seed=0, n_museums=200, n_games=100)
    for kind, n in (("museum", 200), ("game", 100)):
        counts = Counter(m.info.split for m in world if m.info.kind == kind)
        assert abs(counts["train"] / n - 0.7) < 0.05
        assert abs(counts["val"] / n - 0.1) < 0.05
        assert abs(counts["test"] / n - 0.2) < 0.05


def test_permutation_families_share_rooms_in_another_order(world):
    families = defaultdict(list)
    for m in world:
        families[m.family].append(m)
    perms = [ms for name, ms in families.items() if "-perm-" in name]
    assert perms and all(len(ms) >= 2 for ms in perms)
    for ms in perms:
        themes = [tuple((r.images[0]["subject"], r.images[0]["palette"]) for r in m.info.rooms) for m in ms]
        assert len({tuple(sorted(t)) for t in themes}) == 1  # same multiset of rooms
        assert len(set(themes)) == len(themes)  # every member in its own order
        assert len({m.info.split for m in ms}) == 1  # families never straddle splits
    swaps = [ms for name, ms in families.items() if "-swap-" in name]
    assert swaps


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="n_museums must be a non-negative int"):
        generate_world(n_museums=-1)
    with pytest.raises(ValueError, match="at least one metaverse"):
        generate_world(n_museums=0, n_games=0)
