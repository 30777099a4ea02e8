"""A checked NewMetaverse through the bundle's own encoders: the same features the bundle stores for its metaverses."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

import numpy as np

from backend.data.collection import MetaverseInfo, RoomInfo
from backend.encoders.base import l2_normalise
from backend.grow.spec import NewMetaverse

THUMB_PX = 256   # images are kept at most this size (the thumbnail route offers up to 256 px)
ADDED_SPLIT = "added"   # split of added metaverses: never part of the train/val/test evaluation splits


@dataclass(frozen=True)
class Addition:
    """One added metaverse: its metadata and encoder-space features, in the bundle's CSR layout for one row."""
    info: MetaverseInfo
    image_feats: np.ndarray                 # (N_img, D) float32, L2-normalised
    room_image_counts: np.ndarray           # (R,) int64
    sentence_embs: np.ndarray               # (N_sent, D) float32
    paragraph_sentence_counts: np.ndarray   # (R + 1,) int64
    images: tuple[Optional[bytes], ...] = ()  # PNG bytes per image (same order as image_feats), None for features


def image_file(room: int, image: int) -> str:
    """Name of a kept image inside an addition's folder (room and image from 1)."""
    return f"images/{room}_{image}.png"


def _png(im) -> bytes:
    im = im.convert("RGB")
    im.thumbnail((THUMB_PX, THUMB_PX))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def encode_new(new: NewMetaverse, encoder) -> Addition:
    feats, counts, kept, rooms = [], [], [], []
    for r, room in enumerate(new.rooms, start=1):
        if room.features is not None:
            f = l2_normalise(room.features.astype(np.float32))
            kept.extend([None] * len(f))
            refs = (None,) * len(f)
        else:
            f = encoder.encode_image(list(room.images))
            kept.extend(_png(im) for im in room.images)
            refs = tuple({"addition": new.id, "file": image_file(r, i)} for i in range(1, len(room.images) + 1))
        feats.append(np.asarray(f, np.float32))
        counts.append(len(f))
        rooms.append(RoomInfo(r - 1, room.title, refs))
    sentences = [s for p in new.paragraphs for s in p]
    info = MetaverseInfo(new.id, new.kind, new.title, ADDED_SPLIT, tuple(" ".join(p) for p in new.paragraphs),
                         tuple(rooms))
    return Addition(info=info, image_feats=np.concatenate(feats), room_image_counts=np.asarray(counts, np.int64),
                    sentence_embs=np.asarray(encoder.encode_text(sentences), np.float32),
                    paragraph_sentence_counts=np.asarray([len(p) for p in new.paragraphs], np.int64),
                    images=tuple(kept))
