"""What a person sends to add a metaverse, checked before anything is encoded or written.

A spec is JSON: {"id", "kind", "title", "description" (paragraphs separated by blank lines: an introduction, then one
per room) or "paragraphs": [...], "rooms": [{"title", "images": [...]} or {"title", "features": [[...], ...]}]}.
Images are file paths (CLI; relative to the spec file), base64 strings (API) or PIL images; features are rows in the
bundle encoder's space. Every problem is a ValueError naming the field and what would fix it."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from backend.data.kinds import KINDS
from backend.data.images import load_query_image
from backend.data.text import check_clean_text, split_sentences

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_ROOMS = 32
MAX_IMAGES_PER_ROOM = 64
MAX_IMAGES = 256
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 20_000


@dataclass(frozen=True)
class NewRoom:
    title: str
    images: tuple                       # PIL images (empty when features are given)
    features: Optional[np.ndarray]      # (n_images, D) or None


@dataclass(frozen=True)
class NewMetaverse:
    id: str
    kind: str
    title: str
    paragraphs: tuple[tuple[str, ...], ...]   # intro + one per room, each a tuple of sentences
    rooms: tuple[NewRoom, ...]


def _text(d: dict, key: str, limit: int) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"'{key}' is required: a non-empty text.")
    if len(v) > limit:
        raise ValueError(f"'{key}' has {len(v):,} characters; at most {limit:,} are accepted.")
    return check_clean_text(v, f"'{key}'").strip()


def _image(src, where: str, base_dir: Optional[Path], allow_outside: bool = False):
    if isinstance(src, str) and not src.startswith("data:") and base_dir is not None and len(src) < 4096:
        path = (base_dir / src) if not Path(src).is_absolute() else Path(src)
        # symlinks and '..' resolved first: a spec reads only its own folder unless its author says otherwise
        if not allow_outside and not path.resolve().is_relative_to(Path(base_dir).resolve()):
            raise ValueError(f"{where}: {src!r} lies outside the spec's folder {base_dir}; move the image into it, or "
                             "pass --allow-outside to read files elsewhere.")
        if not path.is_file():
            raise ValueError(f"{where}: no image file at {path}.")
        src = path
    elif isinstance(src, str):
        payload = src.split(",", 1)[1] if src.startswith("data:") else src
        try:
            src = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: not a base64-encoded image (or a data: URL).") from None
    try:
        return load_query_image(src)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _paragraphs(d: dict) -> list[list[str]]:
    if "paragraphs" in d:
        pars = d["paragraphs"]
        if not isinstance(pars, list) or not all(isinstance(p, str) for p in pars):
            raise ValueError("'paragraphs' must be a list of texts: an introduction, then one per room.")
        if sum(len(p) for p in pars) > MAX_DESCRIPTION_CHARS:
            raise ValueError(f"the description is longer than {MAX_DESCRIPTION_CHARS:,} characters.")
        for n, p in enumerate(pars, start=1):
            check_clean_text(p, f"paragraph {n}")
        blocks = pars
    else:
        text = _text(d, "description", MAX_DESCRIPTION_CHARS)
        blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    return [split_sentences(b) for b in blocks if b.strip()]


def parse_spec(d: dict, dim: int, base_dir: Optional[Path] = None, allow_outside: bool = False) -> NewMetaverse:
    """A checked NewMetaverse. dim: the bundle encoder's dimension (features must have it). Image paths are read
    relative to base_dir and only inside it unless allow_outside; every text is refused if it holds a lone surrogate
    or a control character (it could not be encoded in a response)."""
    if not isinstance(d, dict):
        raise ValueError("The metaverse must be a JSON object with id, kind, title, description and rooms.")
    mid = d.get("id")
    if not isinstance(mid, str) or not ID_PATTERN.match(mid):
        raise ValueError("'id' must be 1-64 characters of lower-case letters, digits, '-', '_' or '.', starting with "
                         f"a letter or digit (got {mid!r}).")
    kind = d.get("kind")
    if kind not in KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(KINDS)} (got {kind!r}).")
    title = _text(d, "title", MAX_TITLE_CHARS)
    rooms_in = d.get("rooms")
    if not isinstance(rooms_in, list) or not rooms_in:
        raise ValueError("'rooms' must be a non-empty list; each room has a title and images (or features).")
    if len(rooms_in) > MAX_ROOMS:
        raise ValueError(f"{len(rooms_in)} rooms; at most {MAX_ROOMS} are accepted.")
    paragraphs = _paragraphs(d)
    if len(paragraphs) != len(rooms_in) + 1:
        raise ValueError(f"The description has {len(paragraphs)} paragraphs but the metaverse has {len(rooms_in)} "
                         f"rooms: write an introduction, then one paragraph per room ({len(rooms_in) + 1} paragraphs, "
                         "separated by blank lines).")
    rooms, total = [], 0
    for i, r in enumerate(rooms_in, start=1):
        where = f"room {i}"
        if not isinstance(r, dict):
            raise ValueError(f"{where} must be an object with a title and images (or features).")
        rtitle = r.get("title") or f"Room {i}"
        if not isinstance(rtitle, str) or len(rtitle) > MAX_TITLE_CHARS:
            raise ValueError(f"{where}: the title must be a text of at most {MAX_TITLE_CHARS} characters.")
        check_clean_text(rtitle, f"{where}: the title")
        has_images, has_feats = bool(r.get("images")), r.get("features") is not None
        if has_images == has_feats:
            raise ValueError(f"{where} has no images: give 'images' (files or base64) or 'features', not both "
                             "and not neither." if not has_images else
                             f"{where}: give 'images' or 'features', not both.")
        if has_feats:
            try:
                feats = np.asarray(r["features"], dtype=np.float32)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: 'features' must be a list of equal-length number lists.") from None
            if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] != dim:
                raise ValueError(f"{where}: features have shape {tuple(feats.shape)}; this bundle's encoder needs "
                                 f"(n_images, {dim}).")
            if not np.all(np.isfinite(feats)) or np.any(np.linalg.norm(feats, axis=1) == 0):
                raise ValueError(f"{where}: features must be finite and non-zero.")
            n, images = len(feats), ()
        else:
            srcs = r["images"]
            if not isinstance(srcs, list):
                raise ValueError(f"{where}: 'images' must be a list.")
            if len(srcs) > MAX_IMAGES_PER_ROOM:
                raise ValueError(f"{where}: {len(srcs)} images; at most {MAX_IMAGES_PER_ROOM} per room.")
            images = tuple(_image(s, f"{where}, image {j}", base_dir, allow_outside)
                           for j, s in enumerate(srcs, start=1))
            feats, n = None, len(images)
        total += n
        if total > MAX_IMAGES:
            raise ValueError(f"more than {MAX_IMAGES} images in all; split the metaverse or use fewer images.")
        rooms.append(NewRoom(rtitle.strip(), images, feats))
    return NewMetaverse(mid, kind, title, tuple(tuple(p) for p in paragraphs), tuple(rooms))
