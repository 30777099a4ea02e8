"""Reading a collection a person brings as files: a folder per metaverse with a folder per room of images, or a
JSONL / CSV manifest of the same, into checked items (texts and image paths; no pixels are decoded here).

Folder layout (`python -m backend build collection DIR`):

    DIR/<metaverse>/                  the folder name is the id (lower-cased, other characters -> '-')
        description.md | .txt         intro, then one paragraph per room, separated by blank lines; an opening
                                      '# Title' line of a .md is the title
        metadata.json                 optional: id, title, kind (museum | game), split (train | val | test),
                                      paragraphs (a list replacing the description file), rooms (room titles)
        <room>/*.png|jpg|…            one folder per room, in natural name order ('2' before '10'); its title is
                                      the folder name less a leading number ('01 Stormy seas' -> 'Stormy seas')

JSONL: one metaverse per line, as the `add` spec: {"id", "kind", "title", "description" or "paragraphs", "split"?,
"rooms": [{"title", "images": [paths relative to the manifest]}]}. CSV: one row per image with columns id, room, image
(relative to the manifest) and optionally kind, title, description, split (a metaverse's first non-empty value wins);
rooms and images keep the rows' order.

Every problem with one metaverse goes to `bad(name, reason)`; the caller skips the item or stops (--strict)."""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from backend.data.collection import SPLITS
from backend.data.images import load_query_image
from backend.data.kinds import KINDS
from backend.data.text import check_clean_text, split_sentences

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
DESCRIPTION_FILES = ("description.md", "description.txt")
METADATA_FILE = "metadata.json"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")   # ids appear in image keys and URLs ('<id>/<room>/<image>')
MANIFEST_SUFFIXES = (".jsonl", ".csv")

Bad = Callable[[str, str], None]


@dataclass(frozen=True)
class FolderRoom:
    title: str
    images: tuple[Path, ...]


@dataclass(frozen=True)
class FolderItem:
    """One metaverse as read from files, checked: paragraphs are intro + one per room, every room has images."""
    id: str
    kind: str
    title: str
    split: Optional[str]                        # as the files say, or None (the build draws one)
    paragraphs: tuple[tuple[str, ...], ...]     # intro + one per room, each a tuple of sentences
    rooms: tuple[FolderRoom, ...]
    source: str                                 # where it came from, for messages


def natural_key(name: str) -> list:
    """'room 2' before 'room 10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def folder_id(name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")[:64]


def room_title(folder: str, number: int) -> str:
    """A room folder's name less a leading number and separators: '01 - Stormy seas' -> 'Stormy seas'."""
    title = re.sub(r"^\d+\s*[-_.)\s]\s*", "", folder).replace("_", " ").strip()
    return title if title and not title.isdigit() else f"Room {number}"


def _visible(p: Path) -> bool:
    return not p.name.startswith((".", "__MACOSX"))


def read_items(source: Path, bad: Bad, default_kind: str = "museum") -> list[FolderItem]:
    """Every good item of a folder tree or a .jsonl / .csv manifest, in a fixed order (ids sorted); a second item
    with an id already taken is bad. ValueError when the source itself cannot be read."""
    source = Path(source)
    if default_kind not in KINDS:
        raise ValueError(f"unknown kind {default_kind!r}; allowed: {', '.join(KINDS)}")
    if source.is_dir():
        raw = _folder_items(source, bad)
    elif source.is_file() and source.suffix.lower() == ".jsonl":
        raw = _jsonl_items(source, bad)
    elif source.is_file() and source.suffix.lower() == ".csv":
        raw = _csv_items(source, bad)
    elif source.exists():
        raise ValueError(f"{source} is neither a folder nor a manifest ({', '.join(MANIFEST_SUFFIXES)})")
    else:
        raise ValueError(f"{source} does not exist; give a folder of metaverse folders or a .jsonl / .csv manifest")
    items: dict[str, FolderItem] = {}
    for name, spec, base in raw:
        try:
            item = check_item(spec, base, name, default_kind)
        except ValueError as e:
            bad(name, str(e))
            continue
        if item.id in items:
            bad(name, f"duplicate id {item.id!r} (already used by {items[item.id].source})")
            continue
        items[item.id] = item
    return [items[k] for k in sorted(items)]


def load_room_images(item: FolderItem) -> list[list]:
    """The item's images as small RGB PIL images, room by room; ValueError naming the file that does not decode."""
    out = []
    for room in item.rooms:
        images = []
        for path in room.images:
            try:
                images.append(load_query_image(path))
            except ValueError as e:
                raise ValueError(f"unreadable image {path}: {e}") from None
        out.append(images)
    return out


# ---- checking one item -------------------------------------------------------------------------------------------
def check_item(d: dict, base: Path, name: str, default_kind: str) -> FolderItem:
    """A FolderItem from a spec-shaped dict (image paths relative to base), or ValueError saying what is wrong."""
    if not isinstance(d, dict):
        raise ValueError("expected a JSON object with id, kind, title, description and rooms")
    mid = d.get("id")
    if not isinstance(mid, str) or not ID_PATTERN.match(mid):
        raise ValueError(f"id {mid!r} must be 1-64 lower-case letters, digits, '-', '_' or '.', starting with a "
                         "letter or digit")
    kind = d.get("kind") or default_kind
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    split = d.get("split") or None
    if split is not None and split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    title = d.get("title") or mid
    if not isinstance(title, str):
        raise ValueError("title must be a text")
    check_clean_text(title, "the title")
    rooms_in = d.get("rooms")
    if not isinstance(rooms_in, list) or not rooms_in:
        raise ValueError("no images: give one folder (or 'rooms' entry) per room, each holding its images")
    rooms = []
    for n, r in enumerate(rooms_in, start=1):
        if not isinstance(r, dict) or not isinstance(r.get("images"), list):
            raise ValueError(f"room {n} must be an object with a title and a list of images")
        if not r["images"]:
            raise ValueError(f"room {n} ({r.get('title') or 'untitled'}) has no images")
        paths = []
        for src in r["images"]:
            if not isinstance(src, (str, Path)) or not str(src).strip():
                raise ValueError(f"room {n}: an image entry {src!r} is not a file path")
            path = Path(src) if Path(src).is_absolute() else Path(base) / src
            if not path.is_file():
                raise ValueError(f"room {n}: no image file at {path}")
            paths.append(path)
        rtitle = r.get("title") or f"Room {n}"
        if not isinstance(rtitle, str):
            raise ValueError(f"room {n}: the title must be a text")
        rooms.append(FolderRoom(check_clean_text(rtitle, f"room {n}'s title").strip(), tuple(paths)))
    paragraphs = _paragraphs(d)
    if len(paragraphs) != len(rooms) + 1:
        raise ValueError(f"the description has {len(paragraphs)} paragraphs for {len(rooms)} rooms; write an "
                         f"introduction, then one paragraph per room ({len(rooms) + 1} paragraphs separated by blank "
                         "lines)")
    return FolderItem(mid, kind, title.strip(), split, tuple(tuple(p) for p in paragraphs), tuple(rooms), name)


def _paragraphs(d: dict) -> list[list[str]]:
    if d.get("paragraphs") is not None:
        blocks = d["paragraphs"]
        if not isinstance(blocks, list) or not all(isinstance(p, str) for p in blocks):
            raise ValueError("'paragraphs' must be a list of texts: an introduction, then one per room")
    else:
        text = d.get("description")
        if not isinstance(text, str):
            raise ValueError("no description: write description.md (or a 'description' / 'paragraphs' entry): an "
                             "introduction, then one paragraph per room")
        blocks = re.split(r"\n\s*\n", text)
    blocks = [check_clean_text(b, f"paragraph {n}") for n, b in enumerate(blocks, start=1)]
    paragraphs = [split_sentences(b) for b in blocks if b.strip()]
    if not paragraphs:
        raise ValueError("empty description: write an introduction, then one paragraph per room")
    return paragraphs


# ---- the three layouts, each as (name, spec dict, base folder for image paths) -----------------------------------
def _folder_items(root: Path, bad: Bad) -> Iterator[tuple[str, dict, Path]]:
    folders = sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)), key=lambda p: natural_key(p.name))
    if not folders:
        raise ValueError(f"{root} holds no metaverse folders (one folder per metaverse, one sub-folder per room)")
    for folder in folders:
        try:
            spec = _folder_spec(folder)
        except ValueError as e:
            bad(str(folder), str(e))
            continue
        yield str(folder), spec, folder


def _folder_spec(folder: Path) -> dict:
    meta: dict = {}
    if (folder / METADATA_FILE).is_file():
        try:
            meta = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{METADATA_FILE} cannot be read as JSON ({e})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{METADATA_FILE} must hold a JSON object")
    spec = {"id": meta.get("id") or folder_id(folder.name), "kind": meta.get("kind"), "title": meta.get("title"),
            "split": meta.get("split"), "paragraphs": meta.get("paragraphs"), "description": meta.get("description")}
    if spec["paragraphs"] is None and spec["description"] is None:
        found = next((folder / f for f in DESCRIPTION_FILES if (folder / f).is_file()), None)
        if found is not None:
            try:
                text = found.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(f"{found.name} cannot be read as UTF-8 text ({e})") from None
            heading = re.match(r"\s*#\s+(.+)\n", text) if found.suffix == ".md" else None
            if heading:
                spec["title"] = spec["title"] or heading.group(1).strip()
                text = text[heading.end():]
            spec["description"] = text
    room_dirs = sorted((p for p in folder.iterdir() if p.is_dir() and _visible(p)), key=lambda p: natural_key(p.name))
    titles = meta.get("rooms")
    if titles is not None and (not isinstance(titles, list) or len(titles) != len(room_dirs)):
        raise ValueError(f"{METADATA_FILE} lists {len(titles) if isinstance(titles, list) else titles!r} room titles "
                         f"for {len(room_dirs)} room folders")
    spec["rooms"] = [{"title": titles[n] if titles else room_title(d.name, n + 1),
                      "images": sorted((p for p in d.iterdir() if p.is_file() and _visible(p)
                                        and p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))}
                     for n, d in enumerate(room_dirs)]
    return spec


def _jsonl_items(path: Path, bad: Bad) -> Iterator[tuple[str, dict, Path]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read {path} ({e})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        name = f"{path.name}:{n}"
        try:
            spec = json.loads(line)
        except json.JSONDecodeError as e:
            bad(name, f"not a JSON object ({e})")
            continue
        yield (f"{name} ({spec['id']})" if isinstance(spec, dict) and isinstance(spec.get("id"), str) else name), \
            spec, path.parent


CSV_REQUIRED = ("id", "room", "image")
CSV_OPTIONAL = ("kind", "title", "description", "split")


def _csv_items(path: Path, bad: Bad) -> Iterator[tuple[str, dict, Path]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            columns = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"cannot read {path} as CSV ({e})") from None
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}; a row per image needs "
                         f"{', '.join(CSV_REQUIRED)} (and may have {', '.join(CSV_OPTIONAL)})")
    specs: dict[str, dict] = {}
    for row in rows:
        mid = (row.get("id") or "").strip()
        spec = specs.setdefault(mid, {"id": mid, "rooms": {}})
        for key in CSV_OPTIONAL:
            if not spec.get(key) and (row.get(key) or "").strip():
                spec[key] = row[key].strip()
        room = (row.get("room") or "").strip()
        images = spec["rooms"].setdefault(room, [])
        if (row.get("image") or "").strip():
            images.append(row["image"].strip())
    for mid, spec in specs.items():
        spec["rooms"] = [{"title": title, "images": images} for title, images in spec["rooms"].items()]
        yield f"{path.name} ({mid or 'no id'})", spec, path.parent
