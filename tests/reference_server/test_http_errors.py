"""OpenAI-style error responses and the limits' refusals."""

from __future__ import annotations

import json

from reference_server.http_errors import error_response, refusal


def test_error_response_is_an_openai_error_object() -> None:
    response = error_response(400, "bad_json", "invalid JSON")
    assert response.status == 400
    assert json.loads(response.body) == {
        "error": {"message": "invalid JSON", "type": "invalid_request_error", "param": None, "code": "bad_json"}
    }


def test_refusals_carry_retry_after_in_whole_seconds() -> None:
    busy = refusal(503, "max_sessions", "full", 0.2)
    limited = refusal(429, "rate_limited", "slow down", 2.01)
    assert (busy.status, busy.headers["Retry-After"]) == (503, "1")  # at least 1
    assert (limited.status, limited.headers["Retry-After"]) == (429, "3")  # rounded up
    assert json.loads(busy.body)["error"]["type"] == "server_error"
    assert json.loads(limited.body)["error"] == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limited",
    }
