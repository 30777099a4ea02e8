"""The in-memory collection: metaverse metadata plus ragged (CSR) feature arrays at every level."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from backend.data.kinds import KINDS
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class RoomInfo:
    index: int
    title: str
    images: tuple[Optional[dict], ...]  # ImageRef per image (re-render recipe) or None for real data


@dataclass(frozen=True)
class MetaverseInfo:
    id: str
    kind: str
    title: str
    split: str
    paragraphs: tuple[str, ...]  # intro + one per room
    rooms: tuple[RoomInfo, ...]
    theme: Optional[str] = None

    def to_json(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "title": self.title, "split": self.split, "theme": self.theme,
            "paragraphs": list(self.paragraphs),
            "rooms": [{"index": r.index, "title": r.title, "images": list(r.images)} for r in self.rooms],
        }

    @staticmethod
    def from_json(d: dict) -> "MetaverseInfo":
        rooms = tuple(RoomInfo(int(r["index"]), str(r["title"]), tuple(r.get("images") or ())) for r in d["rooms"])
        return MetaverseInfo(d["id"], d["kind"], d["title"], d.get("split", "train"), tuple(d["paragraphs"]),
                             rooms, d.get("theme"))


def offsets_from_lengths(lengths) -> np.ndarray:
    """(n,) lengths -> (n + 1,) int64 offsets."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=out[1:])
    return out


@dataclass
class Collection:
    """Metaverses and their features at every level, in the CSR layout of docs/ARCHITECTURE.md."""

    metaverses: list[MetaverseInfo]
    image_feats: np.ndarray                 # (N_img, D) float32, L2-normalised
    room_image_offsets: np.ndarray          # (N_rooms + 1,) int64
    metaverse_room_offsets: np.ndarray      # (M + 1,) int64
    sentence_embs: np.ndarray               # (N_sent, D) float32
    paragraph_sentence_offsets: np.ndarray  # (N_par + 1,) int64
    metaverse_paragraph_offsets: np.ndarray  # (M + 1,) int64
    expert_feats: Optional[np.ndarray] = None  # (N_img, D_expert) or None
    extra: dict = field(default_factory=dict)
    _rows: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # id -> row, built on first use

    # ---- sizes -------------------------------------------------------------------------------------------------
    @property
    def n_metaverses(self) -> int:
        return len(self.metaverses)

    @property
    def n_rooms(self) -> int:
        return len(self.room_image_offsets) - 1

    # ---- ragged access -----------------------------------------------------------------------------------------
    def room_range(self, m: int) -> range:
        return range(int(self.metaverse_room_offsets[m]), int(self.metaverse_room_offsets[m + 1]))

    def room_images(self, r: int) -> np.ndarray:
        """(N_r, D) image features of global room r."""
        return self.image_feats[self.room_image_offsets[r]:self.room_image_offsets[r + 1]]

    def metaverse_row(self, metaverse_id: str) -> int:
        """Row of a metaverse by id; ValueError naming the id when there is none."""
        if len(self._rows) != self.n_metaverses:
            self._rows = {m.id: i for i, m in enumerate(self.metaverses)}
        try:
            return self._rows[metaverse_id]
        except (KeyError, TypeError):
            raise ValueError(f"Unknown metaverse id {metaverse_id!r}.") from None

    def image_row(self, m: int, room_index: int, image_index: int) -> int:
        """Global row in image_feats of image `image_index` of room `room_index` (both 0-based) of metaverse m."""
        rooms = self.room_range(m)
        if not 0 <= room_index < len(rooms):
            raise ValueError(f"{self.metaverses[m].id} has {len(rooms)} rooms; room {room_index + 1} does not exist.")
        r = rooms[room_index]
        lo, hi = int(self.room_image_offsets[r]), int(self.room_image_offsets[r + 1])
        if not 0 <= image_index < hi - lo:
            raise ValueError(f"Room {room_index + 1} of {self.metaverses[m].id} has {hi - lo} images; "
                             f"image {image_index + 1} does not exist.")
        return lo + image_index

    def paragraph_range(self, m: int) -> range:
        return range(int(self.metaverse_paragraph_offsets[m]), int(self.metaverse_paragraph_offsets[m + 1]))

    def paragraph_sentences(self, p: int) -> np.ndarray:
        """(S_p, D) sentence embeddings of global paragraph p."""
        return self.sentence_embs[self.paragraph_sentence_offsets[p]:self.paragraph_sentence_offsets[p + 1]]

    def room_to_metaverse(self) -> np.ndarray:
        """(N_rooms,) index of the metaverse owning each global room."""
        return np.repeat(np.arange(self.n_metaverses), np.diff(self.metaverse_room_offsets))

    def split_indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        return np.array([i for i, m in enumerate(self.metaverses) if m.split == split], dtype=np.int64)

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistency between metadata and arrays."""
        M = self.n_metaverses
        if len(self.metaverse_room_offsets) != M + 1:
            raise ValueError(f"metaverse_room_offsets has {len(self.metaverse_room_offsets)} entries, expected {M + 1}")
        if len(self.metaverse_paragraph_offsets) != M + 1:
            raise ValueError(f"metaverse_paragraph_offsets has {len(self.metaverse_paragraph_offsets)} entries, expected {M + 1}")
        if int(self.room_image_offsets[-1]) != len(self.image_feats):
            raise ValueError(f"room_image_offsets ends at {int(self.room_image_offsets[-1])} but there are {len(self.image_feats)} image features")
        if int(self.paragraph_sentence_offsets[-1]) != len(self.sentence_embs):
            raise ValueError(f"paragraph_sentence_offsets ends at {int(self.paragraph_sentence_offsets[-1])} but there are {len(self.sentence_embs)} sentence embeddings")
        if int(self.metaverse_room_offsets[-1]) != self.n_rooms:
            raise ValueError(f"metaverse_room_offsets ends at {int(self.metaverse_room_offsets[-1])} but there are {self.n_rooms} rooms")
        if self.expert_feats is not None and len(self.expert_feats) != len(self.image_feats):
            raise ValueError(f"expert_feats has {len(self.expert_feats)} rows, image_feats {len(self.image_feats)}")
        for m, info in enumerate(self.metaverses):
            n_rooms = len(self.room_range(m))
            if n_rooms < 1:
                raise ValueError(f"metaverse {info.id!r} has no rooms")
            if len(info.rooms) != n_rooms:
                raise ValueError(f"metaverse {info.id!r}: metadata lists {len(info.rooms)} rooms, arrays hold {n_rooms}")
            if len(self.paragraph_range(m)) != n_rooms + 1:
                raise ValueError(f"metaverse {info.id!r}: {len(self.paragraph_range(m))} paragraphs, expected intro + {n_rooms} rooms")
            if info.kind not in KINDS:
                raise ValueError(f"metaverse {info.id!r}: kind {info.kind!r} not in {KINDS}")
        if np.any(np.diff(self.room_image_offsets) < 1):
            raise ValueError("a room has no images")
        if np.any(np.diff(self.paragraph_sentence_offsets) < 1):
            raise ValueError("a paragraph has no sentences")
