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

    def study_start() -> dict:
        """A new anonymous participant of the running study: participant_id, resume code, assigned tasks, next."""
        if study is None:
            raise gr.Error("No study is running on this server.", print_exception=False)
        return study.start()

    def study_task(participant_id: str, task_id: str = "") -> dict:
        """A task's blinded list (ids, titles, rooms) and the participant's own grades; default: their next task."""
        try:
            return study.task_view(participant_id, task_id or study.progress(participant_id)["next"])
        except (ValueError, AttributeError, TypeError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def study_judge(participant_id: str, task_id: str, metaverse_id: str, grade: int) -> dict:
        """Record one grade (idempotent: the same key again updates it)."""
        try:
            return study.judge(participant_id, task_id, metaverse_id, int(grade))
        except (ValueError, AttributeError, TypeError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    gr.api(search, api_name="search")
    # Study writes are sub-millisecond SQLite upserts: they skip the queue (POST /gradio_api/run/<name> answers
    # directly, in Gradio's thread pool) instead of paying its join + event-stream round trips and waiting behind
    # searches; that took 50 participants' submit p95 from 2.6 s to the figure in BENCHMARKS.md. A task view runs
    # two searches, so it stays in the queue's search lane.
    gr.api(study_start, api_name="study_start", queue=False)
    gr.api(study_task, api_name="study_task")
    gr.api(study_judge, api_name="study_judge", queue=False)
    gr.api(recommend, api_name="recommend")
    gr.api(search_image, api_name="search_image")
