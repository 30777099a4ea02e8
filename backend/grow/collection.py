"""A collection with additions appended as rows after its own (the bundle's rows, and earlier additions', never move)."""
from __future__ import annotations

import numpy as np

from backend.data.collection import Collection, offsets_from_lengths
from backend.grow.encode import Addition


def extend_collection(base: Collection, additions: list[Addition]) -> Collection:
    if not additions:
        return base
    if base.expert_feats is not None:
        expert_dim = base.expert_feats.shape[1]
        expert = np.concatenate([base.expert_feats] + [np.zeros((len(a.image_feats), expert_dim), np.float32)
                                                       for a in additions])
    else:
        expert = None
    room_counts = np.concatenate([np.diff(base.room_image_offsets)] + [a.room_image_counts for a in additions])
    rooms_per_mv = np.concatenate([np.diff(base.metaverse_room_offsets)]
                                  + [np.array([len(a.room_image_counts)]) for a in additions])
    sent_counts = np.concatenate([np.diff(base.paragraph_sentence_offsets)]
                                 + [a.paragraph_sentence_counts for a in additions])
    pars_per_mv = np.concatenate([np.diff(base.metaverse_paragraph_offsets)]
                                 + [np.array([len(a.paragraph_sentence_counts)]) for a in additions])
    col = Collection(
        metaverses=list(base.metaverses) + [a.info for a in additions],
        image_feats=np.concatenate([base.image_feats] + [a.image_feats for a in additions], dtype=np.float32),
        room_image_offsets=offsets_from_lengths(room_counts),
        metaverse_room_offsets=offsets_from_lengths(rooms_per_mv),
        sentence_embs=np.concatenate([base.sentence_embs] + [a.sentence_embs for a in additions], dtype=np.float32),
        paragraph_sentence_offsets=offsets_from_lengths(sent_counts),
        metaverse_paragraph_offsets=offsets_from_lengths(pars_per_mv),
        expert_feats=expert,
        # base may already hold additions (an appended view): the bundle's own count stays the one first recorded
        extra=dict(base.extra, n_bundle_metaverses=base.extra.get("n_bundle_metaverses", base.n_metaverses)))
    col.validate()
    return col
