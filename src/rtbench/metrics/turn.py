"""Timing of one turn (a prompt and its streamed response) from timestamps passed in.

All times are seconds from one monotonic clock (e.g. `time.perf_counter()`); nothing here reads a
clock. Results are in microseconds. Definitions (DESIGN.md section 3):

- ttft: first content frame (reasoning or answer) - sent_at (None when no content frame arrived).
- ttft_answer: first answer frame - sent_at, only for a turn that streamed reasoning first.
- itl: gap between consecutive content frames / tokens in the later frame, once per token.
- tpot: (e2e - ttft) / (output_tokens - 1); None when output_tokens < 2.
- e2e: done - sent_at.

Output tokens come from the protocol's usage block when given, else from the frames' counts
(reasoning included). Input tokens come from the usage block when given, else from the client's
own count of what it sent (`InputTokenMethod`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtbench.metrics.names import InputTokenMethod, TokenCountMethod

__all__ = ["InputTokenMethod", "TokenCountMethod", "TurnResult", "TurnTimer"]


_US = 1_000_000.0


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The timings of one completed turn, in microseconds."""

    #: Time to first token: sent -> first content frame; None if no content frame arrived.
    ttft_us: float | None
    #: End to end: sent -> done.
    e2e_us: float
    #: Time per output token after the first; None with fewer than two output tokens.
    tpot_us: float | None
    #: Output tokens of the turn, counted by `token_count_method`.
    output_tokens: int
    #: "usage" when the protocol reported the count, "frames" when summed from content frames.
    token_count_method: TokenCountMethod
    #: Inter-token latency: (per-token gap in us, number of tokens it applies to), one per gap.
    itl: tuple[tuple[float, int], ...]
    #: Content frames received.
    frames: int
    #: Input tokens of the turn, counted by `input_token_method` (0: not known).
    input_tokens: int = 0
    #: "usage" when the protocol reported it, else how the client counted what it sent.
    input_token_method: InputTokenMethod = "estimate"
    #: Output tokens that were reasoning (frames flagged as reasoning), in `output_tokens` too.
    reasoning_tokens: int = 0
    #: Sent -> first answer frame, only when reasoning frames came first; else None.
    ttft_answer_us: float | None = None


class TurnTimer:
    """Collects the content-frame timestamps of one turn; `finish` turns them into a TurnResult."""

    __slots__ = (
        *("sent_at", "_first_at", "_last_at", "_frame_tokens", "_frames", "_itl", "_reasoning", "_answer_at"),
        "_reasoning_first",
    )

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at
        self._first_at: float | None = None
        self._last_at = 0.0
        self._frame_tokens = 0
        self._frames = 0
        self._itl: list[tuple[float, int]] = []
        self._reasoning = 0
        self._answer_at: float | None = None
        self._reasoning_first = False

    @property
    def first_token_us(self) -> float | None:
        """Sent -> first content frame so far, us (None before the first one)."""
        return None if self._first_at is None else (self._first_at - self.sent_at) * _US

    @property
    def tokens_seen(self) -> int:
        """Tokens of the content frames received so far."""
        return self._frame_tokens

    def on_content(self, now: float, tokens: int, reasoning: bool = False) -> None:
        """A frame carrying `tokens` (>= 1) tokens of content arrived at `now`; `reasoning`: the
        tokens are reasoning, not the answer.

        A frame with fewer than one token carries no content and is ignored.
        """
        if tokens < 1:
            return
        if reasoning:
            self._reasoning += tokens
        elif self._answer_at is None:
            self._answer_at = now
        if self._first_at is None:
            self._first_at = now
            self._reasoning_first = reasoning
        else:
            self._itl.append(((now - self._last_at) * _US / tokens, tokens))
        self._last_at = now
        self._frame_tokens += tokens
        self._frames += 1

    def finish(
        self,
        now: float,
        usage_tokens: int | None = None,
        usage_input: int | None = None,
        client_input: int = 0,
        client_method: InputTokenMethod = "estimate",
    ) -> TurnResult:
        """The turn ended (its final frame arrived) at `now`. `usage_tokens` and `usage_input`: the
        output and input tokens the usage block reported, if any; `client_input`: the client's own
        count of the input it sent, by `client_method` (used when the usage block gave none)."""
        method: TokenCountMethod = "usage" if usage_tokens is not None else "frames"
        output_tokens = usage_tokens if usage_tokens is not None else self._frame_tokens
        e2e_us = (now - self.sent_at) * _US
        ttft_us = None if self._first_at is None else (self._first_at - self.sent_at) * _US
        tpot_us = None
        if ttft_us is not None and output_tokens >= 2:
            tpot_us = (e2e_us - ttft_us) / (output_tokens - 1)
        ttft_answer_us = None
        if self._reasoning_first and self._answer_at is not None:
            ttft_answer_us = (self._answer_at - self.sent_at) * _US
        input_method: InputTokenMethod = "usage" if usage_input is not None else client_method
        return TurnResult(
            ttft_us=ttft_us,
            e2e_us=e2e_us,
            tpot_us=tpot_us,
            output_tokens=output_tokens,
            token_count_method=method,
            itl=tuple(self._itl),
            frames=self._frames,
            input_tokens=usage_input if usage_input is not None else client_input,
            input_token_method=input_method,
            reasoning_tokens=self._reasoning,
            ttft_answer_us=ttft_answer_us,
        )
