"""OpenAI-style HTTP error responses, and the refusals of the limits (503 / 429 with Retry-After)."""

from __future__ import annotations

import math

from aiohttp import web

from reference_server.jsonwire import dumps
from reference_server.state import ServerState

__all__ = ["RETRY_AFTER_FULL_S", "error_response", "refusal", "refuse_when_full"]

#: The Retry-After of a `max_sessions` refusal: a session may end any moment, so soon.
RETRY_AFTER_FULL_S = 1


def error_response(status: int, code: str, message: str, kind: str = "invalid_request_error") -> web.Response:
    """An OpenAI-style error object (the caller counts the error)."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, dumps=dumps)


def refusal(status: int, code: str, message: str, retry_after_s: float) -> web.Response:
    """A limit's refusal: the error object plus `Retry-After` in whole seconds (at least 1)."""
    kind = "rate_limit_error" if status == 429 else "server_error"
    response = error_response(status, code, message, kind)
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return response


def refuse_when_full(state: ServerState) -> web.Response | None:
    """Take a session place (give it back with `state.gate.leave()`); None if one was free, else the
    503 `max_sessions` refusal (counted)."""
    if state.gate.enter():
        return None
    state.metrics.error("max_sessions")
    return refusal(
        503,
        "max_sessions",
        f"the server holds its maximum of {state.gate.limit} sessions; retry later",
        RETRY_AFTER_FULL_S,
    )
