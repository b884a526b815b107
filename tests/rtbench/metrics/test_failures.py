"""Failure reasons: a fixed vocabulary, counter names that round-trip, and close texts classified."""

from __future__ import annotations

import pytest

from rtbench.metrics.failures import REASONS, close_reason, failed_reasons, reason_counter, reason_of_counter
from rtbench.metrics.names import FAILURE_KINDS


def test_every_failure_kind_has_reasons() -> None:
    assert set(REASONS) == set(FAILURE_KINDS)


@pytest.mark.parametrize(("kind", "reason"), [(k, r) for k, rs in REASONS.items() for r in rs])
def test_reason_counters_round_trip(kind: str, reason: str) -> None:
    assert reason_of_counter(reason_counter(kind, reason)) == (kind, reason)


def test_an_unknown_reason_is_other_so_names_stay_bounded() -> None:
    names = {reason_counter("incomplete", f"made up {i}") for i in range(1000)}
    assert names == {"failed_because_incomplete.other"}
    assert reason_of_counter("failed_incomplete") is None
    assert reason_of_counter("turns_sent") is None


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        ("connection closed: closed by server", "closed_by_server"),
        ("connection closed: closed by server after the response (Connection: close)", "closed_by_server"),
        ("connection closed: closed by server with code 1011: overloaded", "server_close_code"),
        ("connection closed: connection lost: [Errno 104] Connection reset by peer", "connection_lost"),
        ("connection closed: connection lost: closed without a close frame", "connection_lost"),
        ("connection closed: WebSocket protocol error: invalid UTF-8 (closed with 1007)", "protocol_error"),
        ("connection closed: HTTP protocol error: bad chunk", "protocol_error"),
        ("connection closed: frame handler failed: ValueError()", "handler_failed"),
        ("connection closed: resume refused: unknown token", "session_lost"),
    ],
)
def test_close_texts_are_classified(detail: str, reason: str) -> None:
    assert close_reason(detail) == reason
    assert reason in REASONS["incomplete"]


def test_failed_reasons_are_keyed_by_kind_and_reason_most_first() -> None:
    counters = {
        "turns_sent": 10,
        reason_counter("timeout", "no_first_token"): 2,
        reason_counter("incomplete", "closed_by_server"): 5,
        reason_counter("empty", "no_content"): 0,
    }
    assert list(failed_reasons(counters).items()) == [
        ("incomplete: closed_by_server", 5),
        ("timeout: no_first_token", 2),
    ]
