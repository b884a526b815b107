"""One turn in flight: its state, how it can fail, and the wait for its result.

`TurnInFlight` holds what a sent turn needs until it ends; the exceptions name how it ended when it
did not complete; `await_result` waits for it within the target's timeouts.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import gevent
from gevent.event import AsyncResult

from rtbench.config import TargetConfig
from rtbench.load.dialogue import SentTurn
from rtbench.metrics.turn import InputTokenMethod, TurnResult, TurnTimer

__all__ = ["TurnInFlight", "Resend", "TurnCancelled", "TurnFailed", "await_result", "sleep_until"]


def sleep_until(moment: float) -> None:
    """Sleep until `perf_counter()` reaches `moment`. The first turn after `on_start` runs at once,
    and a gevent timer can fire a little early (its loop clock is cached), so a turn planned for
    later must wait here: sent before its planned time, it would be timed from after its send."""
    while (delay := moment - perf_counter()) > 0:
        gevent.sleep(delay)


class TurnFailed(Exception):
    """A turn ended without a complete response; `kind` names the delivery failure and `reason`
    why it failed (`rtbench.metrics.failures.REASONS`)."""

    def __init__(self, kind: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.reason = reason


class TurnCancelled(Exception):
    """The turn was counted as cancelled at the stop (`ProcessState.cancel_open_turns`)."""


class Resend(TurnFailed):
    """The connection ended before any byte of the answer, on a reused keep-alive connection the
    server had closed meanwhile: the request never reached it and may be sent again."""

    def __init__(self, detail: str) -> None:
        super().__init__("incomplete", detail)


class TurnInFlight:
    __slots__ = (
        *("turn_id", "timer", "outcome", "persona_switch_at", "first_token_seen", "last_frame_at", "ended"),
        *("sent", "input_tokens", "input_method"),
        "row",
        "texts",
    )

    def __init__(
        self,
        turn_id: str,
        sent_at: float,
        persona_switch_at: float | None,
        sent: SentTurn | None,
        input_tokens: int = 0,
        input_method: InputTokenMethod = "estimate",
    ) -> None:
        self.turn_id = turn_id
        #: The client-side count of the turn's input tokens (every message sent), and how it was
        #: made: "tokenizer" or "estimate" (`rtbench.prompts.tokens`).
        self.input_tokens = input_tokens
        self.input_method = input_method
        #: A conversation's turn: its index, and the text streamed back (None outside conversations).
        self.sent = sent
        self.timer = TurnTimer(sent_at)
        self.outcome: AsyncResult = AsyncResult()
        self.persona_switch_at = persona_switch_at
        self.first_token_seen = False
        self.last_frame_at = sent_at
        self.ended = False
        #: With --export-turns: the turn's turns.jsonl row, filled as it goes (`TurnExport`).
        self.row: dict[str, Any] | None = None
        #: With --export-content: the answer's texts as streamed (reasoning left out).
        self.texts: list[str] | None = None

    def end(self) -> bool:
        """Mark the turn ended; True the first time only, so that it is counted once."""
        if self.ended:
            return False
        self.ended = True
        return True

    def cancel(self) -> bool:
        """At the stop: end the turn as cancelled and wake its user (see `state.OpenTurn`)."""
        if not self.end():
            return False
        if not self.outcome.ready():
            self.outcome.set_exception(TurnCancelled())
        return True


def await_result(turn: TurnInFlight, target: TargetConfig) -> TurnResult:
    """The turn's result, within the turn timeout and the first-token and idle timeouts."""
    turn_deadline = turn.timer.sent_at + target.turn_timeout
    while True:
        if not turn.first_token_seen:
            limit, what, reason = target.first_token_timeout, "first token", "no_first_token"
            deadline = turn.timer.sent_at + (limit or target.turn_timeout)
        else:
            limit, what, reason = target.idle_timeout, "next frame", "no_next_frame"
            deadline = turn.last_frame_at + (limit or target.turn_timeout)
        if limit is None or turn_deadline <= deadline:
            deadline, what, reason = turn_deadline, "complete response", "no_complete_response"
        wait = deadline - perf_counter()
        if wait <= 0:
            raise TurnFailed("timeout", reason, f"no {what} within its timeout")
        if not turn.first_token_seen and target.idle_timeout:
            wait = min(wait, target.idle_timeout)  # look again once tokens may be flowing
        try:
            result: TurnResult = turn.outcome.get(timeout=wait)
            return result
        except gevent.Timeout:
            continue
