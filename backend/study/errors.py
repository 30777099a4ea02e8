"""Why the study refused a request, as ValueError subclasses the HTTP routes map to status codes (the page shows the
message either way)."""
from __future__ import annotations


class UnknownError(ValueError):
    """No such participant, task or resume code (HTTP 404)."""


class NotAllowedError(ValueError):
    """The participant may not do this: a task not assigned to them, a metaverse not shown to them (HTTP 403)."""


class NotReadyError(ValueError):
    """Not yet: grade a task only after its list was shown; a describe task needs its query first (HTTP 409)."""


class RateLimitedError(ValueError):
    """Too many requests from one client; `retry_after` seconds until the next may go (HTTP 429)."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after
