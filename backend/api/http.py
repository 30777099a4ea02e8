"""The plain JSON REST routes (search, thumbnails, health) as a FastAPI router, with an OpenAPI schema."""
from __future__ import annotations

import json
import logging
from typing import Literal, Optional

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as _StarletteJSON
from fastapi.responses import Response
from pydantic import AliasChoices, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from backend.api.admission import Admission
from backend.search.queries import MAX_K, MAX_QUERY_CHARS
from backend.search.results import THUMB_ROUTE, SearchResponse
from backend.service import THUMB_SIZES

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


MAX_EXCERPT = 80   # characters of a bad value quoted back in a 422: enough to find it, never the whole body


class JSONResponse(_StarletteJSON):
    """JSON as ASCII with every non-ASCII character escaped: an error message that quotes a lone surrogate a client
    sent (an unknown ranker, image key or id) still renders, where UTF-8 encoding would fail with a bare 500."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class SearchRequest(BaseModel):
    """One search. Give exactly one of text, image_key, metaverse_ids."""
    text: Optional[str] = Field(None, max_length=4 * MAX_QUERY_CHARS, validation_alias=AliasChoices("text", "q"),
                                description="free-text query (also accepted as `q`, the name GET uses)")
    image_key: Optional[str] = Field(None, description="an image key from a result: more like this image")
    metaverse_ids: Optional[list[str]] = Field(None, description="stored metaverses as the query (more like these)")
    kind: Literal["all", "museum", "game"] = "all"
    k: int = Field(10, ge=1, le=MAX_K)
    ranker: Optional[str] = Field(None, description="hicalm | baseline; default: the bundle's")
    full: bool = Field(False, description="include room paragraphs and the intro")
    image_size: int = Field(64, description=f"pixel size of the thumbnails the image URLs point at: one of "
                                            f"{', '.join(map(str, THUMB_SIZES))}")
    min_score: Optional[float] = Field(None, ge=-1, le=1, description="only hits scoring at least this, k at most "
                                                                      "(a similarity threshold instead of a fixed k)")
    kind_intent: bool = Field(True, description="with kind 'all', a text that names a kind ('a game with snowy "
                                                "mountains') searches only that kind; false: search every kind "
                                                "anyway. The answer's query.kind_intent says what was read")


MAX_ADD_BYTES = 64 * 1024 * 1024   # one metaverse with its images as base64; larger bodies are refused unread


class ErrorResponse(BaseModel):
    error: str


def _excerpt(value) -> str:
    text = ascii(value)   # ascii(): no surrogate or control character can reach the response
    return text if len(text) <= MAX_EXCERPT else text[:MAX_EXCERPT] + "…"


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the JSON API is {"error": "..."}: a 422 names each bad field with a short excerpt of what was
    sent (never the whole body back), and an unexpected failure is a logged JSON 500."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            if err.get("type") == "json_invalid":
                parts.append(f"The body is not valid JSON (near character {err.get('loc', ('', '?'))[-1]}).")
                continue
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            msg = str(err.get("msg", "invalid"))[:200]
            parts.append(f"{where}: {msg}" + (f" (got {_excerpt(err['input'])})" if "input" in err and
                                                err.get("type") != "missing" else ""))
        return JSONResponse({"error": "; ".join(parts) or "The request is not valid."}, status_code=422)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "The server failed on this request; it has been logged. Please try again."},
                            status_code=500)


def public_base(request: Request) -> str:
    """Where clients reach this server, for absolute URLs: $METAVERSE_PUBLIC_URL, else https://$SPACE_HOST on a
    Hugging Face Space (its proxy's inner address is not the public one), else the request's own base URL."""
    import os
    if os.environ.get("METAVERSE_PUBLIC_URL"):
        return os.environ["METAVERSE_PUBLIC_URL"].rstrip("/")
    if os.environ.get("SPACE_HOST"):
        return f"https://{os.environ['SPACE_HOST']}"
    return str(request.base_url).rstrip("/")


def absolute_image_urls(node, base: str, size: int):
    """The JSON with every thumbnail URL made absolute and pointing at `size` px (64 is the route's default)."""
    if isinstance(node, dict):
        return {k: (f"{base}{v}" + (f"?size={size}" if size != 64 else "")
                    if k == "url" and isinstance(v, str) and v.startswith(THUMB_ROUTE + "/")
                    else absolute_image_urls(v, base, size)) for k, v in node.items()}
    if isinstance(node, list):
        return [absolute_image_urls(v, base, size) for v in node]
    return node


def make_router(service, admission: Optional[Admission] = None) -> APIRouter:
    """Routes over one loaded SearchService; admission bounds the searches in flight (503 past it)."""
    router = APIRouter()
    admission = admission or Admission()

    async def _admitted_search(req: SearchRequest, base: str) -> Response:
        with admission.slot() as admitted:
            if not admitted:
                body, headers = admission.refusal()
                return JSONResponse(body, status_code=503, headers=headers)
            return await run_in_threadpool(_search, req, base)

    def _search(req: SearchRequest, base: str) -> Response:
        if req.image_size not in THUMB_SIZES:
            return JSONResponse({"error": f"image_size {req.image_size} is not offered; choose one of "
                                          f"{', '.join(map(str, THUMB_SIZES))}."}, status_code=400)
        try:
            out = service.search(text=req.text, image_key=req.image_key, metaverse_ids=req.metaverse_ids,
                                 kind=req.kind, k=req.k, ranker=req.ranker, full=req.full, min_score=req.min_score,
                                 kind_intent=req.kind_intent)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(absolute_image_urls(out, base, req.image_size))

    @router.post(f"{API_PREFIX}/search", tags=["search"], response_model=None,
                 responses={200: {"model": SearchResponse}, 400: {"model": ErrorResponse},
                            503: {"model": ErrorResponse, "description": "busy: try again after Retry-After s"}})
    async def search_post(req: SearchRequest, request: Request) -> Response:
        """Rank metaverses for a text, a stored image or stored metaverses. Scores: see SearchResponse fields. Image
        URLs are absolute and point at `image_size` px thumbnails."""
        return await _admitted_search(req, public_base(request))

    @router.get(f"{API_PREFIX}/search", tags=["search"], response_model=None,
                responses={200: {"model": SearchResponse}, 400: {"model": ErrorResponse},
                            503: {"model": ErrorResponse, "description": "busy: try again after Retry-After s"}})
    async def search_get(request: Request, q: Optional[str] = Query(None, description="free-text query (also accepted as `text`)"),
                         text: Optional[str] = Query(None, include_in_schema=False),
                         image_key: Optional[str] = Query(None, description="an image key from a result"),
                         metaverse_ids: Optional[list[str]] = Query(
                             None, description="stored metaverses as the query: repeat the parameter or separate "
                                               "ids with commas"),
                         kind: Literal["all", "museum", "game"] = "all", k: int = Query(10, ge=1, le=MAX_K),
                         ranker: Optional[str] = None, full: bool = False,
                         min_score: Optional[float] = Query(None, ge=-1, le=1),
                         image_size: int = Query(64, description="thumbnail size the image URLs point at"),
                         kind_intent: bool = Query(True, description="with kind=all, a text naming a kind searches "
                                                                     "only that kind; false: every kind")
                         ) -> Response:
        """The same search as POST, with the same names as query parameters (`q` or `text` for the text)."""
        if q is not None and text is not None:
            return JSONResponse({"error": "Give the text as q or as text, not both."}, status_code=400)
        ids = [i for v in metaverse_ids for i in v.split(",") if i.strip()] if metaverse_ids else None
        return await _admitted_search(SearchRequest(text=q if q is not None else text, image_key=image_key,
                                                    metaverse_ids=ids, kind=kind, k=k, ranker=ranker, full=full,
                                                    min_score=min_score, image_size=image_size,
                                                    kind_intent=kind_intent),
                                      public_base(request))

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
        """Liveness and what is served (additions: ids added at run time, and any that failed their check)."""
        info = service.info()
        out = {"ok": True, "bundle": info.get("name"), "counts": info.get("counts", {}), "rankers": info["rankers"],
               "metaverses": service.collection.n_metaverses}
        if service.grow is not None:   # ids only: the store's path and the skip reasons (with paths) stay in the log
            status = service.grow.status()
            out["additions"] = {"added": status["added"], "skipped": [s["id"] for s in status["skipped"]]}
        return out

    # ---- growing the collection (token: $METAVERSE_ADMIN_TOKEN) -------------------------------------------------
    def _admin(authorization: Optional[str]) -> Optional[Response]:
        from backend.tokens import ADMIN_TOKEN_ENV, check_token
        if service.grow is None:
            return JSONResponse({"error": "Adding metaverses is switched off on this server (METAVERSE_ADDITIONS=off)."},
                                status_code=403)
        given = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
        try:
            check_token(given, ADMIN_TOKEN_ENV, "adding and removing metaverses is", "admin")
        except PermissionError as exc:
            return JSONResponse({"error": f"{exc} (send 'Authorization: Bearer <token>')."}, status_code=401)
        return None

    def _grow_error(exc: ValueError) -> Response:
        from backend.grow.store import DuplicateIdError
        return JSONResponse({"error": str(exc)}, status_code=409 if isinstance(exc, DuplicateIdError) else 400)

    @router.post(f"{API_PREFIX}/metaverses", tags=["grow"], status_code=201, response_model=None,
                 responses={400: {"model": ErrorResponse}, 401: {"model": ErrorResponse},
                            409: {"model": ErrorResponse}, 413: {"model": ErrorResponse}})
    async def add_metaverse(request: Request, authorization: Optional[str] = Header(None)) -> Response:
        """Add a metaverse while the app runs: JSON {id, kind, title, description (intro + one paragraph per room,
        blank-line separated) or paragraphs[], rooms: [{title, images: [base64 PNG/JPEG…]} or {title,
        features: [[…]]}]}. Encoded with the bundle's encoders, searchable when this returns; atomic."""
        if (refused := _admin(authorization)) is not None:
            return refused
        too_big = JSONResponse({"error": f"The request is larger than {MAX_ADD_BYTES // 2**20} MB; send fewer or "
                                         "smaller images."}, status_code=413)
        if int(request.headers.get("content-length") or 0) > MAX_ADD_BYTES:
            return too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_ADD_BYTES:
                return too_big
        try:
            spec = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": f"The body is not JSON ({exc})."}, status_code=400)
        try:
            out = await run_in_threadpool(service.grow.add, spec)
        except ValueError as exc:
            return _grow_error(exc)
        return JSONResponse(out, status_code=201)

    @router.delete(f"{API_PREFIX}/metaverses/{{metaverse_id}}", tags=["grow"], response_model=None,
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})
    async def remove_metaverse(metaverse_id: str, authorization: Optional[str] = Header(None)) -> Response:
        """Remove a metaverse added at run time (the bundle's own cannot be removed)."""
        if (refused := _admin(authorization)) is not None:
            return refused
        try:
            return JSONResponse(await run_in_threadpool(service.grow.remove, metaverse_id))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    return router
