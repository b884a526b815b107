"""The client's per-frame path as it was up to commit 2cb5d50, and the user's per-frame work,
for benchmarks/frame_path.py to run beside the code as it is.

- `BeforeTransport`: the reader calling websocket-client's `recv_data` per frame, with a clock
  reading after each frame;
- `BeforeAdapter`: `NativeAdapter.receive` parsing with the standard library's json, every frame
  through `_HANDLERS`;
- `histograms(before=True)`: `LatencyHistogram.record` through hdrh's `record_value`;
- `Turn` and `dispatch`: what `ChatUser._dispatch` (load/user.py) does per token and done frame,
  without Locust: `TurnTimer.on_content` and the turn's bookkeeping, `finish` at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from websocket import ABNF, WebSocket

from rtbench.metrics.histogram import HIGHEST_US, LOWEST_US, LatencyHistogram
from rtbench.metrics.turn import TurnResult, TurnTimer
from rtbench.protocols import native
from rtbench.protocols.events import Done, Event, Token
from rtbench.protocols.native import NativeAdapter
from rtbench.transports.websocket import WebSocketTransport, _close_reason

__all__ = ["BeforeTransport", "BeforeAdapter", "histograms", "Turn", "dispatch"]


class BeforeTransport(WebSocketTransport):
    """The reader as it was: websocket-client's `recv_data` per frame, a clock reading after each."""

    __slots__ = ()

    def _read_loop(self, ws: WebSocket) -> None:
        recv, clock, on_frame = ws.recv_data, self._clock, self._on_frame
        while True:
            try:
                opcode, data = recv()
            except Exception as exc:
                reason = f"connection lost: {exc or type(exc).__name__}"
                break
            received_at = clock()
            if opcode == ABNF.OPCODE_TEXT:
                frame: str | bytes = data.decode()
            elif opcode == ABNF.OPCODE_BINARY:
                frame = data
            elif opcode == ABNF.OPCODE_CLOSE:
                reason = _close_reason(data)
                break
            else:
                continue
            on_frame(frame, received_at)
            if self._closed:
                return
        self._finish(reason)


class BeforeAdapter(NativeAdapter):
    """`receive` as it was: the standard library's json, every frame through `_HANDLERS`."""

    __slots__ = ()

    def receive(self, frame: str | bytes) -> list[Event]:
        if type(frame) is not str:
            return native._local_error("binary_frame", "binary")
        try:
            msg = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            return native._local_error("malformed_frame", f"invalid JSON: {exc}")
        if type(msg) is not dict:
            return native._local_error("malformed_frame", "not an object")
        kind = msg.get("type")
        handler = native._HANDLERS.get(kind) if type(kind) is str else None
        if handler is None:
            return native._local_error("unknown_frame_type", f"unknown frame type {kind!r}")
        try:
            return handler(self, msg)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return native._local_error("bad_field", f"{kind} frame: {exc}")


def _record_before(self: LatencyHistogram, value_us: float, count: int = 1) -> None:
    """`LatencyHistogram.record` as it was: through hdrh's `record_value`."""
    if LOWEST_US <= value_us <= HIGHEST_US:
        self.hdr.record_value(round(value_us), count)
    else:
        self.hdr.record_value(self._clamp(value_us, count), count)


@contextmanager
def histograms(before: bool) -> Iterator[None]:
    """Within: histograms record as they did before, if `before`."""
    now = LatencyHistogram.record
    if before:
        LatencyHistogram.record = _record_before  # type: ignore[method-assign]
    try:
        yield
    finally:
        LatencyHistogram.record = now  # type: ignore[method-assign]


class Turn:
    """What `ChatUser` keeps of the turn in flight (load/user.py `Turn`)."""

    __slots__ = ("turn_id", "timer", "first_token_seen", "last_frame_at", "persona_switch_at", "result")

    def __init__(self, turn_id: str, sent_at: float) -> None:
        self.turn_id = turn_id
        self.timer = TurnTimer(sent_at)
        self.first_token_seen = False
        self.last_frame_at = sent_at
        self.persona_switch_at: float | None = None
        self.result: TurnResult | None = None


def dispatch(turn: Turn | None, events: list[Event], received_at: float) -> bool:
    """The per-frame work of `ChatUser._dispatch` for tokens and done; True at the turn's end."""
    for event in events:
        if type(event) is Token:
            if turn is not None and event.turn_id == turn.turn_id:
                turn.timer.on_content(received_at, event.count)
                turn.last_frame_at = received_at
                if not turn.first_token_seen:
                    turn.first_token_seen = True
        elif type(event) is Done:
            if turn is not None and event.turn_id == turn.turn_id and turn.result is None:
                turn.result = turn.timer.finish(received_at, event.output_tokens)
                return True
    return False
