"""The plain JSON REST routes (search, thumbnails, health) as a FastAPI router, with an OpenAPI schema."""
from __future__ import annotations

import logging
from typing import Literal, Optional

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from backend.search.queries import MAX_K, MAX_QUERY_CHARS
from backend.search.results import THUMB_ROUTE, SearchResponse

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class SearchRequest(BaseModel):
    """One search. Give exactly one of text, image_key, metaverse_ids."""
    text: Optional[str] = Field(None, max_length=4 * MAX_QUERY_CHARS, description="free-text query")
    image_key: Optional[str] = Field(None, description="an image key from a result: more like this image")
    metaverse_ids: Optional[list[str]] = Field(None, description="stored metaverses as the query (more like these)")
    kind: Literal["all", "museum", "game"] = "all"
    k: int = Field(10, ge=1, le=MAX_K)
    ranker: Optional[str] = Field(None, description="hicalm | baseline; default: the bundle's")
    full: bool = Field(False, description="include room paragraphs and the intro")


class ErrorResponse(BaseModel):
    error: str


def make_router(service) -> APIRouter:
    """Routes over one loaded SearchService."""
    router = APIRouter()

    def _search(req: SearchRequest) -> Response:
        try:
            out = service.search(text=req.text, image_key=req.image_key, metaverse_ids=req.metaverse_ids,
                                 kind=req.kind, k=req.k, ranker=req.ranker, full=req.full)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(out)

    @router.post(f"{API_PREFIX}/search", tags=["search"], response_model=None,
                 responses={200: {"model": SearchResponse}, 400: {"model": ErrorResponse}})
    async def search_post(req: SearchRequest) -> Response:
        """Rank metaverses for a text, a stored image or stored metaverses. Scores: see SearchResponse fields."""
        return await run_in_threadpool(_search, req)

    @router.get(f"{API_PREFIX}/search", tags=["search"], response_model=None,
                responses={200: {"model": SearchResponse}, 400: {"model": ErrorResponse}})
    async def search_get(q: str = Query(..., description="free-text query"),
                         kind: Literal["all", "museum", "game"] = "all", k: int = Query(10, ge=1, le=MAX_K),
                         ranker: Optional[str] = None, full: bool = False) -> Response:
        """The same search as POST, for a text query in the URL."""
        return await run_in_threadpool(_search, SearchRequest(text=q, kind=kind, k=k, ranker=ranker, full=full))

    @router.get(THUMB_ROUTE + "/{metaverse_id}/{room}/{image}.png", tags=["images"], response_class=Response,
                responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorResponse}})
    def thumbnail(metaverse_id: str, room: int, image: int, size: int = 64) -> Response:
        """A collection image rendered as PNG (cached; immutable for a given bundle)."""
        try:
            png = service.thumbnail_png(f"{metaverse_id}/{room}/{image}", size=size)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})

    @router.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict:
        """Liveness and what is served."""
        info = service.info()
        return {"ok": True, "bundle": info.get("name"), "counts": info.get("counts", {}), "rankers": info["rankers"]}

    return router
