"""Style-strict relevance of render image queries (issue 19): subject + palette + the render's style, on a hand-built
collection and a fake service whose ranking is fixed, so every figure can be counted by hand."""
from __future__ import annotations

import numpy as np
import pytest

from backend.data.collection import Collection, MetaverseInfo, RoomInfo


def _ref(subject: str, palette: str, style: str, seed: int = 1) -> dict:
    return {"subject": subject, "palette": palette, "style": style, "seed": seed, "kind": "museum"}


def _museum(mid: str, *styles_per_room: tuple[str, str, tuple[str, ...]]) -> MetaverseInfo:
    rooms = tuple(RoomInfo(i, f"room {i}", tuple(_ref(s, p, st, seed=10 * i + j) for j, st in enumerate(styles)))
                  for i, (s, p, styles) in enumerate(styles_per_room))
    return MetaverseInfo(mid, "museum", mid, "test", ("intro",) + tuple(r.title for r in rooms), rooms)


def _collection() -> Collection:
    metaverses = [
        _museum("right", ("forest", "deep blues", ("cubist", "cubist"))),            # subject, palette and style
        _museum("other-style", ("forest", "deep blues", ("impressionist", "impressionist"))),
        _museum("mixed", ("forest", "deep blues", ("cubist", "impressionist"))),    # the room mixes styles
        _museum("other-subject", ("desert dunes", "deep blues", ("cubist", "cubist"))),
        _museum("second-room", ("desert dunes", "sepia", ("cubist",)), ("forest", "deep blues", ("cubist",))),
    ]
    z = np.zeros((0, 4), np.float32)
    return Collection(metaverses, z, np.zeros(1, np.int64), np.zeros(len(metaverses) + 1, np.int64), z,
                      np.zeros(1, np.int64), np.zeros(len(metaverses) + 1, np.int64))


class _FixedRanking:
    """Every image search returns all metaverses in collection order."""

    def __init__(self, col: Collection):
        self.collection = col

    def rankers(self):
        return ["baseline", "hicalm"]

    def search(self, image=None, k=10, ranker="hicalm", **_):
        return {"results": [{"id": m.id} for m in self.collection.metaverses][:k]}


def _query(qid: str, style: str, sizes=(64, 256)) -> dict:
    return {"id": qid, "split": "test", "type": "image", "kind": "museum", "form": "render", "ordered": False,
            "target": None, "image": _ref("forest", "deep blues", style, seed=99), "sizes": list(sizes),
            "rooms": [{"subject": "forest", "palette": "deep blues"}]}


def test_other_style_and_mixed_rooms_are_relevant_by_subject_and_palette_only():
    from backend.eval.queryset import relevant_ids, room_recipes, style_strict_rooms
    col = _collection()
    q = _query("a", "cubist")
    assert room_recipes(col, 2) == [{"subject": "forest", "palette": "deep blues", "style": None}]
    assert relevant_ids(col, q) == {"right", "other-style", "mixed", "second-room"}
    assert style_strict_rooms(q) == [{"subject": "forest", "palette": "deep blues", "style": "cubist"}]
    # a room mixing styles has no style: not style-relevant, even though one of its pictures is cubist
    assert relevant_ids(col, {**q, "rooms": style_strict_rooms(q)}) == {"right", "second-room"}
    assert style_strict_rooms({**q, "image": {"path": "queries/images/x.png"}}) is None        # photos: no style
    assert style_strict_rooms({"id": "t", "type": "text", "rooms": [{"subject": "forest"}]}) is None


def test_style_strict_groups_beside_subject_palette():
    from backend.eval.queryset import evaluate_queries
    col = _collection()
    report = evaluate_queries(_FixedRanking(col), [_query("a", "cubist"), _query("b", "pointillist")], split="test")
    assert report["style_strict"]["n_queries"] == 1
    assert report["style_strict"]["no_relevant"] == ["b"]       # no pointillist forest room: left out, not scored 0
    for ranker in ("baseline", "hicalm"):
        groups = report["rankers"][ranker]
        assert groups["image@64"]["n"] == 2 and groups["image_style@64"]["n"] == 1
        assert groups["image@64"]["P@10"] == pytest.approx(4 / 5)        # 5 results, 4 of them subject + palette
        assert groups["image_style@256"]["P@10"] == pytest.approx(2 / 5)  # right, second-room
        assert groups["image_style@64"]["R@10"] == 1.0                    # both style-relevant ones were found
        assert set(groups["image_style@64"]["ci95"]) == {"P@10", "nDCG@10", "R@10"}
    diff = report["differences"]
    assert set(diff["image_size_vs_64"]["hicalm"]) == {"image@256"}          # the existing key is unchanged
    assert diff["image_style_size_vs_64"]["hicalm"]["image_style@256"]["P@10"]["diff"] == 0.0
    assert diff["image_style_size_vs_64"]["hicalm"]["image_style@256"]["P@10"]["n"] == 1
    assert "image_style@64" in diff["vs_baseline"]["hicalm"]
