"""The kinds of metaverse (one list for the whole project) and the words each kind uses for its parts."""
from __future__ import annotations

from typing import Literal

Kind = Literal["museum", "game"]
KINDS: tuple[str, ...] = ("museum", "game")
ALL = "all"
KIND_FILTERS: tuple[str, ...] = (ALL, *KINDS)                      # what a search may filter on
KIND_LABELS: dict[str, str] = {"museum": "Museum", "game": "Gaming world"}
FILTER_LABELS: dict[str, str] = {ALL: "All", "museum": "Museums", "game": "Gaming worlds"}   # a filter's name in the UI
ROOM_NOUN: dict[str, str] = {"museum": "room", "game": "segment"}  # a game's rooms are gameplay segments
IMAGE_NOUN: dict[str, str] = {"museum": "artwork", "game": "frame"}


def check_kind_filter(kind: str) -> str:
    """kind if it is one of KIND_FILTERS, else ValueError naming the choices."""
    if kind not in KIND_FILTERS:
        raise ValueError(f"Unknown kind {kind!r}. Choose one of: {', '.join(KIND_FILTERS)}.")
    return kind
