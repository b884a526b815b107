"""Why a turn failed, beyond its kind: a small fixed vocabulary, counted per reason.

A failed turn is counted once under its kind (`failed_<kind>`, `rtbench.metrics.names`) and once
under its reason (`failed_because_<kind>.<reason>`). Reasons come from rtbench's own wording (which
timeout, how the connection ended), never from text a target chose, so their number stays small;
an error frame's code is counted (bounded) by `ErrorCodeNames`, and its turn's reason is
`error_frame`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "REASONS",
    "OTHER_REASON",
    "REASON_PREFIX",
    "reason_counter",
    "reason_of_counter",
    "close_reason",
    "failed_reasons",
]

#: Every reason, by failure kind, with what it means.
REASONS: dict[str, dict[str, str]] = {
    "timeout": {
        "no_first_token": "no content within the first-token timeout",
        "no_next_frame": "no next frame within the idle timeout",
        "no_complete_response": "no final frame within the turn timeout",
    },
    "error": {"error_frame": "an error frame for the turn (its code: the error_frame_<code> counters)"},
    "seq_gap": {"seq_gap": "a gap in the frame sequence numbers"},
    "empty": {"no_content": "the response ended (done) without any content"},
    "incomplete": {
        "closed_by_server": "the server closed the connection before the final frame",
        "server_close_code": "the server sent a WebSocket close frame (code 1000-4999) before the final frame",
        "connection_lost": "the connection was reset or ended without a close",
        "protocol_error": "the server broke the WebSocket or HTTP protocol; rtbench closed the connection",
        "handler_failed": "a frame or response handler failed on what the server sent",
        "send_failed": "the prompt could not be sent (the connection was gone)",
        "resend_failed": "a request the server never saw could not be sent again on a new connection",
        "session_lost": "the conversation could not go on (resume refused, reconnects exhausted)",
    },
}
#: The reason of a failure rtbench has no word for.
OTHER_REASON = "other"
REASON_PREFIX = "failed_because_"

_CLOSE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("closed by server with code", "server_close_code"),
    ("closed by server", "closed_by_server"),
    ("connection lost", "connection_lost"),
    ("websocket protocol error", "protocol_error"),
    ("http protocol error", "protocol_error"),
    ("frame handler failed", "handler_failed"),
    ("response handler failed", "handler_failed"),
)
_CONNECTION_CLOSED = "connection closed: "


def reason_counter(kind: str, reason: str) -> str:
    """The counter of failed turns of `kind` for `reason` (an unknown reason counts as `other`)."""
    if reason not in REASONS.get(kind, {}):
        reason = OTHER_REASON
    return f"{REASON_PREFIX}{kind}.{reason}"


def reason_of_counter(counter: str) -> tuple[str, str] | None:
    """(kind, reason) of a `reason_counter` name; None for any other counter."""
    if not counter.startswith(REASON_PREFIX):
        return None
    kind, _, reason = counter[len(REASON_PREFIX) :].partition(".")
    return (kind, reason) if kind and reason else None


def close_reason(detail: str) -> str:
    """The `incomplete` reason for a connection that ended as `detail` says (a transport's close
    reason, or the session's); `session_lost` for what no transport says."""
    text = detail.strip().lower().removeprefix(_CONNECTION_CLOSED)
    for prefix, reason in _CLOSE_PREFIXES:
        if text.startswith(prefix):
            return reason
    return "session_lost"


def failed_reasons(counters: Mapping[str, int]) -> dict[str, int]:
    """`"<kind>: <reason>"` -> failed turns, from the reason counters among `counters`, most first."""
    out: dict[str, int] = {}
    for name, n in counters.items():
        parsed = reason_of_counter(name)
        if parsed is not None and n:
            key = f"{parsed[0]}: {parsed[1]}"
            out[key] = out.get(key, 0) + n
    return dict(sorted(out.items(), key=lambda item: (-item[1], item[0])))
