"""Search results as JSON, in one place: the typed schema (TypedDicts, documented field by field) and the converter
from the engine's hits. The UI, the CLI, the Gradio endpoints and the REST route all return exactly this."""
from __future__ import annotations

import math
from typing import Annotated, Literal, Optional

from pydantic import Field
from typing_extensions import TypedDict

from backend.data.collection import Collection
from backend.search.hits import Hit, RoomHit, SearchResult
from backend.search.queries import image_key

THUMB_ROUTE = "/thumbs"  # GET {THUMB_ROUTE}/{image key}.png serves a rendered thumbnail (backend.api.http)


def thumb_url(key: str) -> str:
    return f"{THUMB_ROUTE}/{key}.png"


class ImageJSON(TypedDict):
    key: Annotated[str, Field(description="'<metaverse id>/<room number>/<image number>', numbers from 1; pass it "
                                          "as image_key to search for more like this image")]
    url: Annotated[Optional[str], Field(description="thumbnail URL on this server; null for real data without images")]
    score: Annotated[Optional[float], Field(description="cosine of the query part this room answers and this image "
                                                        "alone (as a one-image room); null when not attributed")]


class RoomJSON(TypedDict, total=False):
    number: Annotated[int, Field(description="position of the room (museum room or game segment), from 1")]
    title: str
    score: Annotated[float, Field(description="cosine of the best-matching query part and this room's vector; for "
                                              "hicalm a weighted sum of its room space and the encoder's own "
                                              "(HicalmRanker.ROOM_TOWER_WEIGHT), which keeps style words")]
    part: Annotated[int, Field(description="the query part (from 1, see query.parts) this room answers best")]
    contribution: Annotated[float, Field(description="share of this match the room carried (0-1, sums to 1 over "
                                                     "the rooms): half room-level softmax, half leave-one-room-out drop")]
    occlusion_drop: Annotated[float, Field(description="metaverse_score minus the score with this room left out")]
    best_image: Annotated[Optional[int], Field(description="number (from 1) of the image that matched most: the "
                                                           "artwork in a museum room, the moment in a game segment")]
    images: list[ImageJSON]
    paragraph: Annotated[str, Field(description="the room's paragraph of the description (only with full=true)")]


class SpanReadingJSON(TypedDict):
    text: Annotated[str, Field(description="the span's content words")]
    part: Annotated[int, Field(description="the query part (from 1) the span lies in")]
    room: Annotated[int, Field(description="number (from 1) of the room that answers the span")]
    score: Annotated[float, Field(description="cosine of the span and that room")]


class HitJSON(TypedDict, total=False):
    rank: int
    id: str
    kind: Literal["museum", "game"]
    title: str
    theme: Optional[str]
    score: Annotated[float, Field(description="the ranking score: (metaverse_score + w * room_evidence) / (1 + w) "
                                              "with w = query.room_weight; cosine scale")]
    metaverse_score: Annotated[float, Field(description="cosine of the query and the whole metaverse")]
    room_evidence: Annotated[Optional[float], Field(description="how well the hit's rooms answer the query's parts: "
                                                                "for a short text query the best cut of its words "
                                                                "into spans (see reading), each span scored by its "
                                                                "best room, weighted by words; otherwise the mean "
                                                                "over parts of the best room's cosine; null when "
                                                                "w = 0")]
    best_room: Annotated[int, Field(description="number (from 1) of the room that carried most")]
    rooms: list[RoomJSON]
    reading: Annotated[list[SpanReadingJSON], Field(description="a short text query as this hit read it: each span "
                                                                "of the best cut and the room that answers it")]
    intro: Annotated[str, Field(description="the description's intro paragraph (only with full=true)")]


class RoomMatchJSON(TypedDict):
    metaverse_id: str
    metaverse_title: str
    kind: Literal["museum", "game"]
    room: Annotated[int, Field(description="room number inside its metaverse, from 1")]
    room_title: str
    score: Annotated[float, Field(description="cosine of the query part and this room (same scale as rooms[].score)")]
    image: Optional[ImageJSON]


class PartMatchesJSON(TypedDict):
    part: Annotated[int, Field(description="query part, from 1")]
    text: Annotated[str, Field(description="what the part says (a clause of the query, or the image)")]
    matches: Annotated[list[RoomMatchJSON], Field(description="best rooms for this part, best first")]


class QueryJSON(TypedDict, total=False):
    type: Literal["text", "image", "stored_image", "metaverses"]
    text: str
    size: list[int]
    key: str
    metaverse_id: str
    room: int
    image: int
    metaverse_ids: list[str]
    kind: Literal["all", "museum", "game"]
    k: int
    min_score: Annotated[Optional[float], Field(description="only hits with at least this score were kept (k of "
                                                            "them at most); null: the top k")]
    ranker: str
    parts: Annotated[list[str], Field(description="the parts the query was read as (rooms it names)")]
    room_weight: Annotated[float, Field(description="w in the ranking score")]


class SearchResponse(TypedDict):
    query: QueryJSON
    results: list[HitJSON]
    room_matches: Annotated[list[PartMatchesJSON], Field(description="room-level matches grouped by query part")]
    timings_ms: Annotated[dict[str, float], Field(description="encode, search, attribution, total")]


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def _images(collection: Collection, m: int, room: int, scores: tuple[float, ...] = ()) -> list[ImageJSON]:
    info = collection.metaverses[m]
    refs = info.rooms[room].images
    return [{"key": (key := image_key(info.id, room + 1, i + 1)), "url": thumb_url(key) if ref else None,
             "score": _r(scores[i]) if i < len(scores) else None} for i, ref in enumerate(refs)]


def _room(collection: Collection, m: int, r: RoomHit, full: bool) -> RoomJSON:
    info = collection.metaverses[m]
    out: RoomJSON = {"number": r.index + 1, "title": info.rooms[r.index].title, "score": _r(r.score),
                     "part": r.part + 1, "contribution": _r(r.contribution), "occlusion_drop": _r(r.occlusion_drop),
                     "best_image": None if r.best_image is None else r.best_image + 1,
                     "images": _images(collection, m, r.index, r.image_scores)}
    if full:
        out["paragraph"] = info.paragraphs[r.index + 1]
    return out


def hit_to_json(collection: Collection, hit: Hit, full: bool = False) -> HitJSON:
    info = collection.metaverses[hit.row]
    out: HitJSON = {"rank": hit.rank, "id": info.id, "kind": info.kind, "title": info.title, "theme": info.theme,
                    "score": _r(hit.score), "metaverse_score": _r(hit.metaverse_score),
                    "room_evidence": _r(hit.room_evidence), "best_room": hit.best_room + 1,
                    "rooms": [_room(collection, hit.row, r, full) for r in hit.rooms]}
    if hit.reading:
        out["reading"] = [{"text": s.text, "part": s.part + 1, "room": s.room + 1, "score": _r(s.score)}
                          for s in hit.reading]
    if full:
        out["intro"] = info.paragraphs[0]
    return out


def result_to_json(collection: Collection, result: SearchResult, full: bool = False) -> SearchResponse:
    """The one JSON form of a search result (see the TypedDicts above for every field)."""
    query: QueryJSON = {**result.query.describe(), "kind": result.kind, "k": result.k, "min_score": result.min_score,
                        "ranker": result.ranker,
                        "parts": list(result.parts), "room_weight": result.room_weight}
    groups: list[PartMatchesJSON] = [{"part": p + 1, "text": text, "matches": []} for p, text in enumerate(result.parts)]
    for rm in result.room_matches:
        info = collection.metaverses[rm.metaverse_row]
        images = _images(collection, rm.metaverse_row, rm.room_index)
        groups[rm.part]["matches"].append({
            "metaverse_id": info.id, "metaverse_title": info.title, "kind": info.kind, "room": rm.room_index + 1,
            "room_title": info.rooms[rm.room_index].title, "score": _r(rm.score),
            "image": images[0] if images else None})
    return {"query": query, "results": [hit_to_json(collection, h, full) for h in result.hits],
            "room_matches": groups, "timings_ms": dict(result.timings_ms)}
