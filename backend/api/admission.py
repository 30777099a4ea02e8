"""A bound on REST searches in flight (running or waiting for a search slot): past it a request is refused at once
with 503 and Retry-After, so a burst gets a fast, clear answer instead of waiting past its client's timeout."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from backend.service import SEARCH_SLOTS

# Enough to keep both slots busy through a burst (~0.5-1 s of waiting at 30-60 ms a search); env overrides.
REST_SEARCH_QUEUE = int(os.environ.get("METAVERSE_REST_SEARCH_QUEUE") or 16 * SEARCH_SLOTS)
RETRY_AFTER_S = 1


class Admission:
    """Counts requests admitted and not yet answered. Used from async handlers only, so every change happens on the
    event loop's one thread and needs no lock."""

    def __init__(self, limit: int = REST_SEARCH_QUEUE):
        self.limit = max(1, int(limit))
        self.in_flight = 0
        self.refused = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """with admission.slot() as admitted: True while this request holds a place; False when none is free."""
        if self.in_flight >= self.limit:
            self.refused += 1
            yield False
            return
        self.in_flight += 1
        try:
            yield True
        finally:
            self.in_flight -= 1

    def refusal(self) -> tuple[dict, dict]:
        """(JSON body, headers) of the 503."""
        return ({"error": f"The server is busy: {self.in_flight} searches are already running or waiting. "
                          f"Try again in {RETRY_AFTER_S} s."},
                {"Retry-After": str(RETRY_AFTER_S)})
