"""Secrets that unlock writes and private data, read from the environment and compared in constant time."""
from __future__ import annotations

import hmac
import os
from typing import Optional

ADMIN_TOKEN_ENV = "METAVERSE_ADMIN_TOKEN"   # adding and removing metaverses through the API


def check_token(given: Optional[str], env: str, what: str, label: str, expected: Optional[str] = None) -> None:
    """PermissionError unless `given` equals the secret in $env (or `expected`). With no secret set, `what` ("the
    study dashboard and exports are") is disabled and the message says how to enable it."""
    expected = os.environ.get(env) if expected is None else expected
    if not expected:
        raise PermissionError(f"{what} disabled: set {env} to a secret token to enable it")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise PermissionError(f"wrong or missing {label} token")
