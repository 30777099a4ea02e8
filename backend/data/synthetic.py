"""Synthetic collections for tests and development: metaverses as ordered sequences of themed rooms."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from backend.encoders.base import l2_normalise

from backend.data.collection import Collection, MetaverseInfo, RoomInfo, offsets_from_lengths

THEME_NAMES: tuple[str, ...] = (
    "seascapes", "portraits", "still lifes", "forests", "mountains", "night cities", "abstract geometry", "deserts",
    "flowers", "horses", "ships", "castles", "rivers", "winter villages", "gardens", "cathedrals",
)
ORDINALS: tuple[str, ...] = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
                             "tenth")


_unit = l2_normalise


def make_synthetic_collection(n: int = 120, seed: int = 0, dim: int = 64, n_themes: int = 12,
                              family_size: int = 4, rooms: tuple[int, int] = (3, 7),
                              images_per_room: tuple[int, int] = (2, 5), n_attributes: int = 8, detail: float = 0.5,
                              image_noise: float = 0.35, text_noise: float = 0.35,
                              room_counts: Optional[Sequence[int]] = None,
                              splits: tuple[float, float] = (0.7, 0.15), expert_dim: int = 0) -> Collection:
    """A Collection whose metaverses come in permutation families: the members of a family hold the same themed
    rooms in different orders, so a flat (mean-pooled) ranker cannot tell them apart and an order-aware one can.

    Images and sentences live in one `dim`-d space: an image is theme + attribute (one of `n_attributes`, like a
    palette) + noise; the sentence that describes it is theme + the same attribute + independent noise. Family
    members hold the same rooms and artworks (fresh noise), so mean pooling sees the same bag for all of them. Each room paragraph starts with an
    "In the <ordinal> room, there are N paintings." sentence (its embedding encodes ordinal and count), as in the
    Museums3k descriptions. `room_counts` forces the number of rooms per metaverse (len == n)."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    if room_counts is not None and len(room_counts) != n:
        raise ValueError(f"room_counts has {len(room_counts)} entries, expected n={n}")
    if n_themes > len(THEME_NAMES):
        raise ValueError(f"n_themes={n_themes}; at most {len(THEME_NAMES)} themes are named")
    rng = np.random.default_rng(seed)
    theme_vecs = _unit(rng.standard_normal((n_themes, dim)))                       # (T, D)
    ordinal_vecs = _unit(rng.standard_normal((64, dim)))                           # room position in the description
    count_vecs = _unit(rng.standard_normal((64, dim)))
    intro_vec = _unit(rng.standard_normal(dim))

    attribute_vecs = _unit(rng.standard_normal((n_attributes, dim)))                # palette/style-like details
    # families share their rooms (theme + the attribute of every artwork); members are distinct room orders
    layouts: list[list[tuple[int, np.ndarray]]] = []
    family_of: list[int] = []
    while len(layouts) < n:
        i = len(layouts)
        n_r = int(room_counts[i]) if room_counts is not None else int(rng.integers(rooms[0], rooms[1] + 1))
        base = [(int(rng.integers(0, n_themes)),
                 rng.integers(0, n_attributes, size=int(rng.integers(images_per_room[0], images_per_room[1] + 1))))
                for _ in range(n_r)]
        for _ in range(family_size if room_counts is None else 1):
            if len(layouts) < n:
                layouts.append([base[j] for j in (rng.permutation(n_r) if n_r > 1 else [0])])
                family_of.append(i)

    image_rows, sent_rows, expert_rows = [], [], []
    room_lengths, mv_room_lengths, par_lengths, mv_par_lengths, infos = [], [], [], [], []
    split_draw = rng.random(n)[family_of]      # a whole family lands in one split, so test holds look-alikes
    for m, layout in enumerate(layouts):
        split = "train" if split_draw[m] < splits[0] else ("val" if split_draw[m] < splits[0] + splits[1] else "test")
        themes = np.array([t for t, _ in layout])
        room_infos, paragraphs = [], []
        names = [THEME_NAMES[t] for t in themes]
        intro = f"This museum has {len(themes)} rooms, showing {', '.join(dict.fromkeys(names))}."
        sent_rows.append(_unit(intro_vec + theme_vecs[themes].mean(0) + text_noise * rng.standard_normal(dim)))
        par_lengths.append(1)
        paragraphs.append(intro)
        for r, (t, attrs) in enumerate(layout):
            n_img = len(attrs)
            details = detail * attribute_vecs[attrs]                                       # (n_img, D)
            images = _unit(theme_vecs[t] + details + image_noise * _unit(rng.standard_normal((n_img, dim))))
            captions = _unit(theme_vecs[t] + details + text_noise * _unit(rng.standard_normal((n_img, dim))))
            header = _unit(ordinal_vecs[r % 64] + count_vecs[n_img % 64] + 0.1 * rng.standard_normal(dim))
            image_rows.append(images)
            if expert_dim:
                expert_rows.append(rng.standard_normal((n_img, expert_dim)).astype(np.float32))
            sent_rows.append(header[None])
            sent_rows.append(captions)
            room_lengths.append(n_img)
            par_lengths.append(1 + n_img)
            ordinal = ORDINALS[r] if r < len(ORDINALS) else f"{r + 1}th"
            paragraphs.append(f"In the {ordinal} room, there are {n_img} paintings. "
                              + " ".join(f"A painting of {THEME_NAMES[t]} in tone {a}." for a in attrs))
            room_infos.append(RoomInfo(r, THEME_NAMES[t].capitalize(), tuple(None for _ in range(n_img))))
        mv_room_lengths.append(len(themes))
        mv_par_lengths.append(len(themes) + 1)
        dominant = THEME_NAMES[int(np.bincount(themes).argmax())]
        infos.append(MetaverseInfo(f"synthetic-{m:04d}", "museum", f"Synthetic museum {m}", split,
                                   tuple(paragraphs), tuple(room_infos), dominant))

    sent = np.concatenate([np.atleast_2d(s) for s in sent_rows]).astype(np.float32)
    coll = Collection(
        metaverses=infos,
        image_feats=np.concatenate(image_rows).astype(np.float32),
        room_image_offsets=offsets_from_lengths(room_lengths),
        metaverse_room_offsets=offsets_from_lengths(mv_room_lengths),
        sentence_embs=sent,
        paragraph_sentence_offsets=offsets_from_lengths(par_lengths),
        metaverse_paragraph_offsets=offsets_from_lengths(mv_par_lengths),
        expert_feats=np.concatenate(expert_rows) if expert_dim else None,
        extra={"synthetic": {"seed": seed, "family_size": family_size, "dim": dim}},
    )
    coll.validate()
    return coll
