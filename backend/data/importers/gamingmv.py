"""Import GamingMV pre-extracted features (HiCALM layout: one gameplay video = segments of frames) into a Collection."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from backend.data.collection import Collection
from backend.data.importers.common import (ImportLog, ItemFeatures, as_matrix, assemble, load_pickle, load_tensor,
                                      make_info, read_description, report, require_dir, split_labels)

log = logging.getLogger(__name__)

GENERALIST_DIRS = {"clip": "ViT-B-32_laion2b_s34b_b79k", "mobile_clip": "mobile_clip"}
REFERENCE_N, REFERENCE_TRAIN, REFERENCE_VAL = 239, 145, 44   # 145/44/50 split of the reference code
DE_DIR = "gaming_DE_features"


FRAMES_PER_SEGMENT = 32  # frames sampled uniformly per segment, as the authors train (--n-imgs 32)


def generalist_dir(root: Path, generalist: str) -> Path:
    """<root>/dataset_gaming_VR/filtered_video_game_features/<ViT-B-32_laion2b_s34b_b79k | mobile_clip | name>."""
    if not generalist or "/" in generalist or generalist.startswith("."):
        raise ValueError(f"generalist {generalist!r} is not a feature-set name; expected one of {list(GENERALIST_DIRS)}")
    sub = GENERALIST_DIRS.get(generalist, generalist)
    tried = [root / "dataset_gaming_VR" / d / sub
             for d in ("filtered_video_game_features", "filtered_video_game_Features")]  # README spells it with 'F'
    for p in tried:
        if p.is_dir():
            return p
    raise ValueError(f"missing GamingMV '{generalist}' feature set: none of {[str(p) for p in tried]} exists")


def reference_split(n: int) -> dict[str, np.ndarray]:
    """The split of run_main_HierArtEx_v2_add_gaming.py (np.random.seed(0), then choice(239, 145) and choice(rest, 44)).

    For n != 239 the same procedure runs with proportional sizes.
    """
    n_train = REFERENCE_TRAIN if n == REFERENCE_N else round(n * REFERENCE_TRAIN / REFERENCE_N)
    n_val = REFERENCE_VAL if n == REFERENCE_N else round(n * REFERENCE_VAL / REFERENCE_N)
    rng = np.random.RandomState(0)  # same stream as the reference's global np.random.seed(0)
    train = rng.choice(n, n_train, replace=False)
    val = rng.choice(list(set(range(n)) - set(train)), n_val, replace=False)
    test = np.array(sorted(set(range(n)) - set(train) - set(val)), dtype=np.int64)
    return {"train": train, "val": val, "test": test}


def uniform_sample(room: np.ndarray, k: int) -> np.ndarray:
    """k frames evenly spaced over the segment (all of them when it has fewer), as the reference's uniform_sample."""
    n = len(room)
    idx = torch.linspace(0, n - 1, steps=min(k, n)).long().numpy()
    return room[idx]


def _segments(obj, path: Path, what: str, dim: Optional[int]) -> list[np.ndarray]:
    """A list of R (N_r, F) tensors (or an (R, N, F) tensor) -> list of float32 matrices."""
    if isinstance(obj, torch.Tensor) and obj.ndim == 3:
        obj = list(obj)
    if not isinstance(obj, (list, tuple)) or len(obj) == 0:
        raise ValueError(f"{what} {path} holds {type(obj).__name__}, expected a non-empty list of (frames, F) "
                         f"tensors, one per segment")
    out = []
    for r, seg in enumerate(obj):
        out.append(as_matrix(seg, path, f"{what} (segment {r})", dim))
        dim = out[-1].shape[1]
    return out


def import_gamingmv(root: Path, generalist: str = "clip", domain_expert: bool = False,
                    frames_per_segment: int = FRAMES_PER_SEGMENT,
                    *, split_file: Optional[Path] = None, strict: bool = True) -> tuple[Collection, dict]:
    """Read <root>/dataset_gaming_VR/filtered_video_game_features/<g>/{unpacked_images,descriptions} (+ gaming_DE_features).

    unpacked_images/<id>.pt is a list of R segment tensors (N_r, F); frames are sampled uniformly to
    frames_per_segment per segment (the reference trains with --n-imgs, default 32). Paragraphs begin at
    "In the <ordinal> video". No split file is published: split_file (a pickled {train, val, test} index dict into
    the sorted ids) if given, else the reference's seed-0 random split.
    """
    if int(frames_per_segment) < 1:
        raise ValueError(f"frames_per_segment={frames_per_segment!r}; expected an integer >= 1")
    t0 = time.perf_counter()
    root = Path(root)
    base = generalist_dir(root, generalist)
    img_dir = require_dir(base / "unpacked_images", "GamingMV frame features")
    sent_dir = base / "descriptions" / "sentences"
    tok_dir = base / "descriptions" / "tokens_strings"
    de_dir = require_dir(root / DE_DIR, "GamingMV domain-expert features") if domain_expert else None

    ids = sorted(p.name[:-3] for p in img_dir.iterdir() if p.name.endswith(".pt"))
    if not ids:
        raise ValueError(f"no <id>.pt feature files in {img_dir}; expected files like 3t_PvlmUpyY.pt")
    if split_file is not None:
        split_source = str(split_file)
        labels = split_labels(load_pickle(Path(split_file), "GamingMV split file"), len(ids), split_source)
    else:
        split_source = f"reference seed-0 split over {len(ids)} sorted ids"
        if len(ids) != REFERENCE_N:
            split_source += f" (proportional: the reference has {REFERENCE_N})"
        labels = split_labels(reference_split(len(ids)), len(ids), split_source)

    ilog = ImportLog()
    if len(ids) != REFERENCE_N:
        ilog.warn(f"{img_dir} holds {len(ids)} videos; the published GamingMV has {REFERENCE_N}")
    items: list[ItemFeatures] = []
    dims: dict[str, Optional[int]] = {"img": None, "sent": None, "de": None}
    for vid, split in zip(ids, labels):
        if split is None:
            ilog.skip(vid, f"not in any split of {split_source}")
            continue
        try:
            items.append(_import_one(vid, split, img_dir, sent_dir, tok_dir, de_dir, int(frames_per_segment), dims,
                                     ilog))
        except ValueError as e:
            if strict:
                raise
            ilog.skip(vid, str(e))

    coll = assemble(items, extra={"source": "gamingmv", "generalist": generalist, "domain_expert": domain_expert,
                                  "frames_per_segment": int(frames_per_segment)})
    rep = report("gamingmv", root, coll, split_source, ilog, generalist=generalist, domain_expert=domain_expert,
                 frames_per_segment=int(frames_per_segment))
    log.info("imported %d videos (%d segments) from %s in %.1fs", coll.n_metaverses, coll.n_rooms, base,
             time.perf_counter() - t0)
    return coll, rep


def _import_one(vid: str, split: str, img_dir: Path, sent_dir: Path, tok_dir: Path, de_dir: Optional[Path],
                k: int, dims: dict, ilog: ImportLog) -> ItemFeatures:
    img_path = img_dir / f"{vid}.pt"
    segments = _segments(load_tensor(img_path, "frame features"), img_path, "frame features", dims["img"])
    dims["img"] = segments[0].shape[1]
    n_seg = len(segments)

    sents, pars = read_description(vid, sent_dir, tok_dir, "video", n_seg, img_path, dims, ilog)

    expert = None
    if de_dir is not None:
        de_path = de_dir / f"{vid}.pt"
        de = _segments(load_tensor(de_path, "domain-expert features"), de_path, "domain-expert features", dims["de"])
        dims["de"] = de[0].shape[1]
        if [len(s) for s in de] != [len(s) for s in segments]:
            raise ValueError(f"domain-expert features {de_path} have frames per segment {[len(s) for s in de]}, "
                             f"expected {[len(s) for s in segments]} as in {img_path}")
        expert = [uniform_sample(s, k) for s in de]

    rooms = [uniform_sample(s, k) for s in segments]  # R x (min(k, N_r), F)
    info = make_info(f"game-{vid}", "game", f"Video {vid}", split, pars, [len(r) for r in rooms], "Segment")
    return ItemFeatures(info, rooms, np.asarray(sents), pars.sentence_counts, expert)
