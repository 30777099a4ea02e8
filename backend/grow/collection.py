"""A collection with additions appended as rows after its own (the bundle's rows, and earlier additions', never move)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from backend.data.collection import Collection, offsets_from_lengths
from backend.grow.encode import Addition
from backend.grow.rows import Rows


def extend_collection(base: Collection, additions: list[Addition], rows: Optional[dict] = None) -> Collection:
    """base with additions appended. rows ({array name: Rows holding base's array}, updated here to the new
    collection's) lets the feature arrays grow in place of being copied whole; without it they are copied."""
    if not additions:
        return base
    rows = {} if rows is None else rows
    new = {"image_feats": [a.image_feats for a in additions], "sentence_embs": [a.sentence_embs for a in additions]}
    if base.expert_feats is not None:      # added images have no expert part: zeros, as for a query image
        new["expert_feats"] = [np.zeros((len(a.image_feats), base.expert_feats.shape[1]), np.float32)
                               for a in additions]
    grown = {}
    for name, parts in new.items():
        held = rows.get(name)
        if held is None or not held.holds(getattr(base, name)):
            held = Rows(getattr(base, name), np.float32)
        rows[name] = held.appended(np.concatenate(parts, dtype=np.float32))
        grown[name] = rows[name].array
    room_counts = np.concatenate([np.diff(base.room_image_offsets)] + [a.room_image_counts for a in additions])
    rooms_per_mv = np.concatenate([np.diff(base.metaverse_room_offsets)]
                                  + [np.array([len(a.room_image_counts)]) for a in additions])
    sent_counts = np.concatenate([np.diff(base.paragraph_sentence_offsets)]
                                 + [a.paragraph_sentence_counts for a in additions])
    pars_per_mv = np.concatenate([np.diff(base.metaverse_paragraph_offsets)]
                                 + [np.array([len(a.paragraph_sentence_counts)]) for a in additions])
    col = Collection(
        metaverses=list(base.metaverses) + [a.info for a in additions],
        image_feats=grown["image_feats"],
        room_image_offsets=offsets_from_lengths(room_counts),
        metaverse_room_offsets=offsets_from_lengths(rooms_per_mv),
        sentence_embs=grown["sentence_embs"],
        paragraph_sentence_offsets=offsets_from_lengths(sent_counts),
        metaverse_paragraph_offsets=offsets_from_lengths(pars_per_mv),
        expert_feats=grown.get("expert_feats"),
        # base may already hold additions (an appended view): the bundle's own count stays the one first recorded
        extra=dict(base.extra, n_bundle_metaverses=base.extra.get("n_bundle_metaverses", base.n_metaverses)))
    _validate_new(col, base)
    return col


def _validate_new(col: Collection, base: Collection) -> None:
    """col.validate() over the appended rows only (base's were checked when it was made): the additions as a
    collection of their own, and the ends of every offset array."""
    m0, r0, p0 = base.n_metaverses, base.n_rooms, len(base.paragraph_sentence_offsets) - 1
    i0, s0 = int(base.room_image_offsets[-1]), int(base.paragraph_sentence_offsets[-1])
    Collection(
        metaverses=col.metaverses[m0:], image_feats=col.image_feats[i0:],
        room_image_offsets=col.room_image_offsets[r0:] - i0,
        metaverse_room_offsets=col.metaverse_room_offsets[m0:] - r0, sentence_embs=col.sentence_embs[s0:],
        paragraph_sentence_offsets=col.paragraph_sentence_offsets[p0:] - s0,
        metaverse_paragraph_offsets=col.metaverse_paragraph_offsets[m0:] - p0,
        expert_feats=None if col.expert_feats is None else col.expert_feats[i0:]).validate()
