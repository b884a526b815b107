"""The canonical metric and counter names, each with the one-line definition reports state.

Counter names built from a kind or code are made (and decoded) here only: `failure_counter`,
`error_frame_counter`, `connect_failed_counter`, `token_method_counter` and their inverses. The by-turn and
by-input-size metric names are made in `rtbench.metrics.breakdowns`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

__all__ = [
    "LATENCY_METRICS",
    "WHOLE_RUN_METRICS",
    "TURN_METRICS",
    "COUNTERS",
    "FAILURE_KINDS",
    "CONNECT_FAILURE_KINDS",
    "TOKEN_COUNT_METHODS",
    "TokenCountMethod",
    "SESSION_COUNTERS",
    "error_frame_counter",
    "error_frame_code",
    "ERROR_CODES_KEPT",
    "CODE_CHARS",
    "OTHER_ERROR_CODE",
    "OWN_ERROR_CODES",
    "ErrorCodeNames",
    "counter_safe_code",
    "bounded_error_counters",
    "failure_counter",
    "failure_kind",
    "connect_failed_counter",
    "connect_failed_kind",
    "token_method_counter",
    "InputTokenMethod",
    "INPUT_TOKEN_METHODS",
    "input_method_counter",
    "CONVERSATION_COUNTERS",
    "WIRE_COUNTERS",
    "WS_PROTOCOL_ERROR_CODES",
    "ws_protocol_error_counter",
    "TRACE_COUNTERS",
]

#: Latency metrics (recorded in us, reported in ms) and their definitions, in report order.
LATENCY_METRICS: dict[str, str] = {
    "connect": "start of the TCP connect to the completed WebSocket handshake "
    "(HTTP: to the connection being ready, after TLS; new connections only)",
    "ttft": "prompt sent (open loop: planned send time) to the first frame carrying content (reasoning or answer)",
    "ttft_answer": "prompt sent to the first frame of the answer, after the reasoning; recorded only "
    "for turns that streamed reasoning first",
    "itl": "gap between consecutive content frames / tokens in the later frame, once per token",
    "tpot": "per turn, (e2e - ttft) / (output_tokens - 1); the first token is not included",
    "e2e": "prompt sent to the final frame of the response (done)",
    "persona_switch": "persona-switch request to the first token generated under the new persona; a "
    "system-prompt switch has no acknowledgement: the TTFT of the first turn after the switch",
    "ttft_same_persona": "the TTFT of turns that did not follow a persona switch (turn 1 of a conversation "
    "excluded), to set beside persona_switch",
    "recovery": "dropped connection detected to the first message of the resumed session (native: `resumed`)",
    "client_lag": "how late a 10 ms sleeper greenlet wakes up (load generator saturation)",
    "send_lag": "trace replay: a row's actual send minus its planned send (trace start + timestamp / speed)",
}

#: Metrics reported over every phase whatever `include_ramp` says: connecting happens in the ramp by
#: nature, and a recovery happens whenever a connection drops.
WHOLE_RUN_METRICS: frozenset[str] = frozenset({"connect", "recovery"})

#: The metrics `Recorder.record_turn` fills from one TurnResult.
TURN_METRICS: tuple[str, ...] = ("ttft", "itl", "tpot", "e2e")

#: Ways a sent turn can fail, as counted in `failed_<kind>` counters.
FAILURE_KINDS: tuple[str, ...] = ("timeout", "error", "incomplete", "seq_gap", "empty")

#: Why a connection attempt failed, as counted in `connect_failed_<kind>` counters.
CONNECT_FAILURE_KINDS: dict[str, str] = {
    "dns": "the host name did not resolve",
    "refused": "no address accepted the TCP connection",
    "timeout": "no connection within the connect timeout",
    "handshake": "the TLS or upgrade handshake failed",
    "closed": "the connection closed while being set up",
}

#: How one completed turn's output tokens were counted: from the protocol's usage block, or one
#: per content frame (or the frame's own count), as counted in `token_count_<method>` counters.
TokenCountMethod = Literal["usage", "frames"]
TOKEN_COUNT_METHODS: tuple[TokenCountMethod, ...] = ("usage", "frames")

#: How one completed turn's input tokens were counted: the usage block's `prompt_tokens`, the
#: client's tokenizer, or the client's estimate (one whitespace-separated word = one token), as
#: counted in `input_token_method_<method>` counters.
InputTokenMethod = Literal["usage", "tokenizer", "estimate"]
INPUT_TOKEN_METHODS: tuple[InputTokenMethod, ...] = ("usage", "tokenizer", "estimate")

#: Counters of WebSocket sessions and their recovery after dropped connections. A "conversation" is
#: one server-side session: a resume keeps it, a fresh session after a drop starts a new one.
SESSION_COUNTERS: dict[str, str] = {
    "session_drops": "connections lost while their session was up (closed by the server, reset, failed send)",
    "recovery_attempts": "reconnect attempts made to recover dropped sessions",
    "resumes_ok": "dropped sessions resumed with their conversation",
    "resumes_failed": "resumes the server refused (the connection carried on as a fresh session)",
    "recovery_gave_up": "drops after which every reconnect attempt failed ([recovery] max_retries)",
    "sessions_started": "conversations started: fresh server sessions (a resume starts none)",
    "sessions_lost": "conversations that ended before their user did: resume refused or impossible, "
    "reconnects exhausted, or abandoned after a turn timeout",
    "frames_duplicate": "sequenced frames received a second time (after a replay) and dropped",
    "session_us": "time sessions were held, from their first connection to the end of the run, summed, us",
    "downtime_us": "time held sessions were not connected and ready, summed, us",
}

#: Counters of multi-turn conversations (a scenario's [conversation] and [personas] tables).
CONVERSATION_COUNTERS: dict[str, str] = {
    "conversations_started": "conversations begun (a user starts a new one after the last turn of the previous one)",
    "persona_switches": "persona switches within conversations (the first persona of a conversation is no switch)",
    "context_truncations": "turns whose context dropped earlier turns to fit max_context_tokens",
    "context_turns_dropped": "earlier turns dropped from those contexts, summed over the turns",
}

#: Close codes the client fails a WebSocket connection with when the server breaks the protocol.
WS_PROTOCOL_ERROR_CODES: dict[int, str] = {
    1002: "a protocol error (e.g. RSV1 without permessage-deflate negotiated)",
    1007: "invalid payload data (invalid UTF-8, or a compressed message that does not inflate)",
    1009: "a message over the size limit (inflated or not)",
}


def ws_protocol_error_counter(code: int) -> str:
    """The counter of connections failed with close code `code`: 1007 -> "ws_protocol_error_1007"."""
    return f"ws_protocol_error_{code}"


#: Counters of the bytes and connections on the wire (transports' `WireTally`), over every phase.
WIRE_COUNTERS: dict[str, str] = {
    "ws_wire_bytes_in": "WebSocket bytes received after the upgrade, frames as on the wire (headers, control frames)",
    "ws_wire_bytes_out": "WebSocket bytes sent after the upgrade, frames as on the wire (headers, masks, control)",
    "ws_payload_bytes_in": "payload bytes of the WebSocket messages received (after permessage-deflate's inflate)",
    "ws_payload_bytes_out": "payload bytes of the WebSocket messages sent (before permessage-deflate's deflate)",
    "ws_deflate_negotiated": "WebSocket connections on which the server accepted the permessage-deflate offered",
    "ws_deflate_declined": "WebSocket connections on which the server declined the permessage-deflate offered",
    **{
        ws_protocol_error_counter(code): f"WebSocket connections the client failed with {code}: {what}"
        for code, what in WS_PROTOCOL_ERROR_CODES.items()
    },
    "http_connections_opened": "HTTP connections opened (TCP, and TLS for https)",
    "http_requests": "HTTP requests sent",
}

#: Counters of trace replay (`[trace]`, `--trace`).
TRACE_COUNTERS: dict[str, str] = {
    "trace_rows": "trace rows to replay (the rows of the file less those skipped)",
    "trace_rows_sent": "trace rows sent",
    "trace_rows_late": "trace rows sent more than 5 ms after their planned send (no free user, or a "
    "late wake-up; still timed from the plan)",
    "trace_rows_skipped": "trace rows skipped when read (BurstGPT: a failed request, or 0 tokens)",
}

#: Counters every run reports (any other name may be counted as well).
COUNTERS: dict[str, str] = {
    "turns_sent": "prompts sent",
    "turns_completed": "responses that ended with their final frame",
    "turns_cancelled": "turns still in flight when their user was stopped, or at the end of the run",
    "turns_resent": "requests sent again on a new connection because the server had closed the "
    "keep-alive connection before answering (not failures: the first never reached it)",
    "turns_lost_with_worker": "turns a lost load worker had sent whose end it never reported "
    "(counted as cancelled too)",
    "turns_late": "open loop: turns that started after their planned time (still timed from it)",
    "failed_timeout": "turns with no complete response within the turn timeout",
    "failed_error": "turns ended by an error frame",
    "failed_incomplete": "turns whose stream ended (connection closed) before the final frame",
    "failed_seq_gap": "turns with a gap in the frame sequence numbers",
    "failed_empty": "responses that ended (done) without any content",
    "turns_good": "completed turns within every per-turn limit (goodput; counted only with limits)",
    "connect_ok": "connections established",
    "connect_failed": "connection attempts that failed",
    **{
        f"connect_failed_{kind}": f"connection attempts that failed: {what}"
        for kind, what in CONNECT_FAILURE_KINDS.items()
    },
    "session_timeout": "connections whose session handshake got no ready reply within the connect timeout",
    "tokens": "output tokens of completed turns",
    "token_count_usage": "completed turns whose tokens were counted from a usage block",
    "token_count_frames": "completed turns whose tokens were counted from content frames",
    "input_tokens": "input tokens of completed turns (usage block, else the client's count)",
    **{
        f"input_token_method_{method}": f"completed turns whose input tokens were counted by: {method}"
        for method in INPUT_TOKEN_METHODS
    },
    "reasoning_tokens": "output tokens of completed turns that were reasoning (in `tokens` too; "
    "one per reasoning delta)",
    **SESSION_COUNTERS,
    **CONVERSATION_COUNTERS,
    **WIRE_COUNTERS,
    **TRACE_COUNTERS,
}

_FAILED = "failed_"
_ERROR_FRAME = "error_frame_"
_CONNECT_FAILED = "connect_failed_"
_TOKEN_COUNT = "token_count_"
_INPUT_METHOD = "input_token_method_"


def _suffix(counter: str, prefix: str) -> str | None:
    rest = counter.removeprefix(prefix)
    return rest if rest and rest != counter else None


def failure_counter(kind: str) -> str:
    """The counter name for a failure kind: "timeout" -> "failed_timeout"."""
    return f"{_FAILED}{kind}"


def failure_kind(counter: str) -> str | None:
    """The failure kind a counter counts ("failed_timeout" -> "timeout"), None for other counters."""
    return _suffix(counter, _FAILED)


def token_method_counter(method: str) -> str:
    """The counter name for a token-count method: "usage" -> "token_count_usage"."""
    return f"{_TOKEN_COUNT}{method}"


def input_method_counter(method: str) -> str:
    """The counter name for an input-token method: "usage" -> "input_token_method_usage"."""
    return f"{_INPUT_METHOD}{method}"


def error_frame_counter(code: str) -> str:
    """The counter of error events with code `code`: "seq_gap" -> "error_frame_seq_gap"."""
    return f"{_ERROR_FRAME}{code}"


def error_frame_code(counter: str) -> str | None:
    """The error code an `error_frame_<code>` counter counts, None for other counters."""
    return _suffix(counter, _ERROR_FRAME)


def connect_failed_counter(kind: str) -> str:
    """The counter of failed connection attempts of `kind`: "refused" -> "connect_failed_refused"."""
    return f"{_CONNECT_FAILED}{kind}"


def connect_failed_kind(counter: str) -> str | None:
    """The kind a `connect_failed_<kind>` counter counts, None for other counters (and for the
    total, `connect_failed`)."""
    return _suffix(counter, _CONNECT_FAILED)


# -- error codes: bounded counter names -------------------------------------------------------

#: Distinct error codes counted by name, in one process and in a run's summary, besides
#: `OWN_ERROR_CODES`: a server chooses its codes, and may choose thousands.
ERROR_CODES_KEPT = 32
#: The code under which every further code is counted.
OTHER_ERROR_CODE = "other"
#: The codes rtbench's adapters and session raise themselves (rtbench.protocols.events, the
#: openai-chat adapter's `incomplete_stream`, the session's `resume_failed`): always by name.
OWN_ERROR_CODES: frozenset[str] = frozenset(
    {
        "binary_frame",
        "malformed_frame",
        "unknown_frame_type",
        "bad_field",
        "seq_gap",
        "config_mismatch",
        "incomplete_stream",
        "resume_failed",
        OTHER_ERROR_CODE,
    }
)
#: The longest code kept in a counter name.
CODE_CHARS = 48
_SAFE_CODE = re.compile(rf"[A-Za-z0-9_.\-]{{1,{CODE_CHARS}}}")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.\-]+")


def counter_safe_code(code: str) -> str:
    """`code` as a counter-name suffix: ASCII letters, digits, `_`, `.` and `-` only (any other
    run of characters becomes one `_`), at most `CODE_CHARS` long, never empty."""
    if _SAFE_CODE.fullmatch(code):
        return code
    safe = _UNSAFE_RUN.sub("_", code).strip("_")[:CODE_CHARS]
    return safe or "unknown"


class ErrorCodeNames:
    """The counter names of one process's error codes: the first `kept` distinct codes (after
    `counter_safe_code`) by name, and `OWN_ERROR_CODES` always; every later code as `other`."""

    __slots__ = ("kept", "_foreign", "_names")

    def __init__(self, kept: int = ERROR_CODES_KEPT) -> None:
        self.kept = kept
        self._foreign: set[str] = set()  # the codes kept by name, besides OWN_ERROR_CODES
        self._names: dict[str, str] = {}  # code as given -> its counter (bounded: a cache)

    def counter(self, code: str) -> str:
        """The counter to count an error of `code` in."""
        name = self._names.get(code)
        if name is not None:
            return name
        safe = counter_safe_code(code if type(code) is str else str(code))
        if safe not in OWN_ERROR_CODES and safe not in self._foreign:
            if len(self._foreign) >= self.kept:
                return error_frame_counter(OTHER_ERROR_CODE)
            self._foreign.add(safe)
        name = error_frame_counter(safe)
        if len(self._names) < 4 * (self.kept + len(OWN_ERROR_CODES)):
            self._names[code] = name
        return name


def bounded_error_counters(counters: Mapping[str, int], kept: int = ERROR_CODES_KEPT) -> dict[str, int]:
    """`counters` with at most `kept` error codes by name besides `OWN_ERROR_CODES`: the most
    counted (ties by name); the others are added into `error_frame_other`. Other counters, and the
    order of names, are kept (as are counts: the total over error codes does not change)."""
    foreign = [
        (name, n) for name, n in counters.items() if (code := error_frame_code(name)) and code not in OWN_ERROR_CODES
    ]
    if len(foreign) <= kept:
        return dict(counters)
    dropped = {name for name, _ in sorted(foreign, key=lambda item: (-item[1], item[0]))[kept:]}
    other = error_frame_counter(OTHER_ERROR_CODE)
    out = {name: n for name, n in counters.items() if name not in dropped}
    out[other] = out.get(other, 0) + sum(counters[name] for name in dropped)
    return out
