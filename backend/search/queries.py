"""What a search can be asked: typed queries (text, uploaded image, stored image, stored metaverses), validated."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Union

from PIL import Image

MAX_QUERY_CHARS = 6000  # a whole pasted description fits (longest in the demo world: 3,268)
MAX_K = 100            # results one search may return
MAX_LIKED = 500         # metaverses one MetaverseQuery may start from
# Characters that draw nothing: zero-width spaces and joiners, word joiner, BOM, soft hyphen, bidi marks.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean_text(text) -> str:
    """A typed text as the search reads it: lone surrogates and control characters dropped (newlines and tabs become
    spaces), invisible characters removed, whitespace collapsed."""
    if not isinstance(text, str):
        raise ValueError(f"The query must be text, not {type(text).__name__}.")
    text = text.encode("utf-8", "ignore" if _has_surrogates(text) else "strict").decode("utf-8")
    text = _INVISIBLE.sub("", text)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") and c not in "\n" else c for c in text)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


@dataclass(frozen=True)
class TextQuery:
    """Free text: a few words, a sentence naming rooms, or a whole pasted description."""
    text: str
    type: str = field(default="text", init=False)

    @classmethod
    def parse(cls, text) -> "TextQuery":
        """Validated query; ValueError with a message a person can act on."""
        cleaned = clean_text(text)
        if not cleaned:
            raise ValueError("The query is empty: type a few words, e.g. 'a museum of stormy seascapes'.")
        if len(cleaned) > MAX_QUERY_CHARS:
            raise ValueError(f"The query is {len(cleaned):,} characters long; the limit is {MAX_QUERY_CHARS:,}. "
                             "Shorten it to the rooms or scenes you are looking for.")
        return cls(cleaned)

    def describe(self) -> dict:
        return {"type": self.type, "text": self.text}


@dataclass(frozen=True, eq=False)
class ImageQuery:
    """An uploaded picture, already checked and shrunk by backend.data.images.load_query_image."""
    image: Image.Image
    type: str = field(default="image", init=False)

    def describe(self) -> dict:
        return {"type": self.type, "size": list(self.image.size)}


@dataclass(frozen=True)
class StoredImageQuery:
    """One image of the collection ("more like this"), by its key '<metaverse id>/<room number>/<image number>'."""
    metaverse_id: str
    room: int    # 1-based, as rooms are numbered everywhere a person sees them
    image: int   # 1-based
    type: str = field(default="stored_image", init=False)

    @property
    def key(self) -> str:
        return image_key(self.metaverse_id, self.room, self.image)

    @classmethod
    def parse(cls, key) -> "StoredImageQuery":
        try:
            mid, room, image = str(key).rsplit("/", 2)
            return cls(mid, int(room), int(image))
        except ValueError:
            raise ValueError(f"Unknown image key {key!r}; expected '<metaverse id>/<room number>/<image number>'.") \
                from None

    def describe(self) -> dict:
        return {"type": self.type, "key": self.key, "metaverse_id": self.metaverse_id, "room": self.room,
                "image": self.image}


@dataclass(frozen=True)
class MetaverseQuery:
    """One or more stored metaverses as the query ("more like this metaverse", recommendations); they are never
    returned as hits of their own query."""
    metaverse_ids: tuple[str, ...]
    type: str = field(default="metaverses", init=False)

    @classmethod
    def parse(cls, ids) -> "MetaverseQuery":
        ids = [ids] if isinstance(ids, str) else list(ids or [])
        ids = [str(i).strip() for i in ids if str(i).strip()]
        if not ids:
            raise ValueError("Give at least one metaverse id.")
        if len(ids) > MAX_LIKED:
            raise ValueError(f"{len(ids)} metaverses given; the limit is {MAX_LIKED}.")
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"Metaverse id given twice: {', '.join(dupes)}.")
        return cls(tuple(ids))

    def describe(self) -> dict:
        return {"type": self.type, "metaverse_ids": list(self.metaverse_ids)}


Query = Union[TextQuery, ImageQuery, StoredImageQuery, MetaverseQuery]


def image_key(metaverse_id: str, room: int, image: int) -> str:
    """The one spelling of an image's key (room and image numbers count from 1)."""
    return f"{metaverse_id}/{int(room)}/{int(image)}"
