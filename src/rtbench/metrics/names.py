"""The canonical metric and counter names, each with the one-line definition reports state."""

from __future__ import annotations

__all__ = [
    "LATENCY_METRICS",
    "TURN_METRICS",
    "COUNTERS",
    "FAILURE_KINDS",
    "failure_counter",
    "token_method_counter",
]

#: Latency metrics (recorded in us, reported in ms) and their definitions, in report order.
LATENCY_METRICS: dict[str, str] = {
    "connect": "start of the TCP connect to the completed WebSocket handshake "
    "(HTTP: to the connection being ready, after TLS; new connections only)",
    "ttft": "prompt sent (open loop: planned send time) to the first frame carrying content",
    "itl": "gap between consecutive content frames / tokens in the later frame, once per token",
    "tpot": "per turn, (e2e - ttft) / (output_tokens - 1); the first token is not included",
    "e2e": "prompt sent to the final frame of the response (done)",
    "persona_switch": "persona-switch request to the first token generated under the new persona",
    "recovery": "dropped connection detected to the first message of the resumed session",
    "client_lag": "how late a 10 ms sleeper greenlet wakes up (load generator saturation)",
}

#: The metrics `Recorder.record_turn` fills from one TurnResult.
TURN_METRICS: tuple[str, ...] = ("ttft", "itl", "tpot", "e2e")

#: Ways a sent turn can fail, as counted in `failed_<kind>` counters.
FAILURE_KINDS: tuple[str, ...] = ("timeout", "error", "incomplete", "seq_gap")

#: Counters every run reports (any other name may be counted as well).
COUNTERS: dict[str, str] = {
    "turns_sent": "prompts sent",
    "turns_completed": "responses that ended with their final frame",
    "turns_cancelled": "turns still in flight when their user was stopped",
    "failed_timeout": "turns with no complete response within the turn timeout",
    "failed_error": "turns ended by an error frame",
    "failed_incomplete": "turns whose stream ended (connection closed) before the final frame",
    "failed_seq_gap": "turns with a gap in the frame sequence numbers",
    "connect_ok": "connections established",
    "connect_failed": "connection attempts that failed",
    "tokens": "output tokens of completed turns",
    "token_count_usage": "completed turns whose tokens were counted from a usage block",
    "token_count_frames": "completed turns whose tokens were counted from content frames",
}


def failure_counter(kind: str) -> str:
    """The counter name for a failure kind: "timeout" -> "failed_timeout"."""
    return f"failed_{kind}"


def token_method_counter(method: str) -> str:
    """The counter name for a token-count method: "usage" -> "token_count_usage"."""
    return f"token_count_{method}"
