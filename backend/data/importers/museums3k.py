"""Import Museums3k pre-extracted features (HiCALM / HierArtEx layout) into a Collection."""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.collection import Collection
from backend.data.importers.common import (ImportLog, ItemFeatures, as_matrix, assemble, load_pickle, load_tensor,
                                      make_info, read_description, report, require_dir, require_file,
                                      split_labels)

log = logging.getLogger(__name__)

VIEWS_PER_ROOM = 12
SPLIT_FILE = "indices_museum_dataset.pkl"
_NAME = re.compile(r"^Museum(\d+)-(\d+)\.unity$")


def generalist_dir(root: Path, generalist: str) -> Path:
    """As in the reference: clip -> tmp_museums/open_clip_features_museums3k, else tmp_museums/museums3k_new_features/<g>."""
    if not generalist or "/" in generalist or generalist.startswith("."):
        raise ValueError(f"generalist {generalist!r} is not a feature-set name; expected 'clip' or 'mobile_clip'")
    if generalist == "clip":
        return root / "tmp_museums" / "open_clip_features_museums3k"
    return root / "tmp_museums" / "museums3k_new_features" / generalist


def import_museums3k(root: Path, generalist: str = "clip", art_expert: Optional[str] = None, *,
                     strict: bool = True) -> tuple[Collection, dict]:
    """Read <root>/tmp_museums/... features, descriptions and <root>/indices_museum_dataset.pkl.

    Layout (aranciokov/HiCALM run_main_HierArtEx_v2_.py): images/<name>.pt (12*R, D) room-major views;
    descriptions/sentences/<name>.pt (S, D); descriptions/tokens_strings/<name>.pkl token list; optional
    <root>/preextracted_vectors_wikiart_<art_expert>/<name>.pt (12*R, D_art). Split indices index the sorted names.
    strict=False turns per-museum ValueErrors into skipped entries of the report.
    """
    t0 = time.perf_counter()
    root = Path(root)
    base = require_dir(generalist_dir(root, generalist), f"Museums3k '{generalist}' feature set")
    img_dir = require_dir(base / "images", "Museums3k image features")
    sent_dir = base / "descriptions" / "sentences"
    tok_dir = base / "descriptions" / "tokens_strings"
    art_dir = None
    if art_expert is not None:
        art_dir = require_dir(root / f"preextracted_vectors_wikiart_{art_expert}", f"art-expert '{art_expert}' features")

    names = sorted(p.name[:-3] for p in img_dir.iterdir() if p.name.endswith(".pt"))
    if not names:
        raise ValueError(f"no <name>.pt feature files in {img_dir}; expected files like Museum0-5.unity.pt")
    split_path = require_file(root / SPLIT_FILE, "Museums3k split file")
    labels = split_labels(load_pickle(split_path, "Museums3k split file"), len(names), str(split_path))

    ilog = ImportLog()
    items: list[ItemFeatures] = []
    dims: dict[str, Optional[int]] = {"img": None, "sent": None, "art": None}
    for name, split in zip(names, labels):
        if split is None:
            ilog.skip(name, f"not in any split of {split_path.name}")
            continue
        try:
            items.append(_import_one(name, split, img_dir, sent_dir, tok_dir, art_dir, dims, ilog))
        except ValueError as e:
            if strict:
                raise
            ilog.skip(name, str(e))

    coll = assemble(items, extra={"source": "museums3k", "generalist": generalist, "art_expert": art_expert})
    rep = report("museums3k", root, coll, f"{SPLIT_FILE} (indices into {len(names)} sorted names)", ilog,
                 generalist=generalist, art_expert=art_expert, views_per_room=VIEWS_PER_ROOM)
    log.info("imported %d museums (%d rooms) from %s in %.1fs", coll.n_metaverses, coll.n_rooms, base,
             time.perf_counter() - t0)
    return coll, rep


def _import_one(name: str, split: str, img_dir: Path, sent_dir: Path, tok_dir: Path, art_dir: Optional[Path],
                dims: dict, ilog: ImportLog) -> ItemFeatures:
    img_path = img_dir / f"{name}.pt"
    views = as_matrix(load_tensor(img_path, "image features"), img_path, "image features", dims["img"])  # (12R, D)
    dims["img"] = views.shape[1]
    if len(views) % VIEWS_PER_ROOM:
        raise ValueError(f"image features {img_path} have {len(views)} rows, expected a multiple of "
                         f"{VIEWS_PER_ROOM} (12 views per room, room-major)")
    n_rooms = len(views) // VIEWS_PER_ROOM
    m = _NAME.match(name)
    if m and int(m.group(2)) != n_rooms:
        raise ValueError(f"image features {img_path} hold {n_rooms} rooms ({len(views)} rows) but the name "
                         f"declares {m.group(2)} rooms, i.e. {int(m.group(2)) * VIEWS_PER_ROOM} rows")
    rooms = [views[r * VIEWS_PER_ROOM:(r + 1) * VIEWS_PER_ROOM] for r in range(n_rooms)]  # R x (12, D)

    sents, pars = read_description(name, sent_dir, tok_dir, "room", n_rooms, img_path, dims, ilog)

    expert = None
    if art_dir is not None:
        art_path = art_dir / f"{name}.pt"
        art = as_matrix(load_tensor(art_path, "art-expert features"), art_path, "art-expert features", dims["art"])
        dims["art"] = art.shape[1]
        if len(art) != len(views):
            raise ValueError(f"art-expert features {art_path} have {len(art)} rows, expected {len(views)} "
                             f"(one per view in {img_path})")
        expert = [art[r * VIEWS_PER_ROOM:(r + 1) * VIEWS_PER_ROOM] for r in range(n_rooms)]

    number = int(m.group(1)) if m else None
    mid = f"museum-{number:04d}" if number is not None else f"museum-{name}"
    title = f"Museum {number}" if number is not None else name
    info = make_info(mid, "museum", title, split, pars, [VIEWS_PER_ROOM] * n_rooms, "Room")
    return ItemFeatures(info, rooms, np.asarray(sents), pars.sentence_counts, expert)
