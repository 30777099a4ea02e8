"""The named Gradio API endpoints (/search, /search_image) for gradio_client; same JSON as the REST route."""
# No `from __future__ import annotations` here: gradio reads these signatures at run time to type the API schema.

import gradio as gr
from gradio.data_classes import FileData

from backend.search.results import SearchResponse


def register(service, study=None, *, check_upload) -> None:
    """Add the endpoints to the current Blocks context (`study`: the running StudySession, or None; `check_upload`:
    payload -> local path of a file this app received as an upload, ValueError otherwise)."""

    def search(text: str, kind: str = "all", k: int = 10, ranker: str = "") -> SearchResponse:
        """Text → metaverse search. Returns results (with per-room and per-image scores), room_matches grouped by
        query part, and timings; every score is explained in the REST schema at /api/v1/docs."""
        try:
            return service.search(text=text, kind=kind, k=k, ranker=ranker or None)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def search_image(image: FileData, kind: str = "all", k: int = 10, ranker: str = "") -> SearchResponse:
        """Image → metaverse search; pass the image with gradio_client.handle_file(path)."""
        try:
            return service.search(image=check_upload(image), kind=kind, k=k, ranker=ranker or None)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def recommend(liked: list[str], k: int = 10, d: float = 0.2, mode: str = "paper", seed: int = 0,
                  ranker: str = "") -> dict:
        """Recommendations from liked metaverse ids (none: cold start): seeds[] (id, cluster, role, reason, share),
        results[] (id, score, seed), split of k, ild (intra-list diversity)."""
        try:
            return service.recommender.recommend(liked=liked, k=k, d=d, mode=mode, seed=seed, ranker=ranker or None)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    gr.api(search, api_name="search")
    # The study's API is REST (backend/api/study_http.py, /api/v1/study/…): Gradio answers any exception of a named
    # endpoint with a 500, and a refused grade must be a 4xx with a message.
    gr.api(recommend, api_name="recommend")
    gr.api(search_image, api_name="search_image")
