"""The latency model: distributions, latency profiles, personas and per-turn frame schedules.

Pure: no I/O, no clock. A turn's schedule is a sequence of frames, each with its offset in seconds
from the moment the turn's clock started (prompt receipt, or slot grant with `--slots`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, NamedTuple

__all__ = [
    "Distribution",
    "FrameSlot",
    "LatencyProfile",
    "Persona",
    "TurnPlan",
    "parse_distribution",
    "plan_turn",
    "token_text",
    "turn_rng",
]

#: z-score of the 95th percentile of a standard normal distribution.
Z95 = NormalDist().inv_cdf(0.95)

DistKind = Literal["fixed", "lognormal", "uniform"]


@dataclass(frozen=True)
class Distribution:
    """A non-negative random quantity.

    - `fixed`: always `a`.
    - `lognormal`: median `a`, 95th percentile `b` (b >= a).
    - `uniform`: between `a` and `b` (b >= a).
    """

    kind: DistKind
    a: float
    b: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError("values must be finite numbers")
        if self.a < 0 or self.b < 0:
            raise ValueError("values must not be negative")
        if self.kind == "lognormal" and (self.a <= 0 or self.b < self.a):
            raise ValueError("lognormal needs 0 < median <= p95")
        if self.kind == "uniform" and self.b < self.a:
            raise ValueError("uniform needs min <= max")
        if self.kind not in ("fixed", "lognormal", "uniform"):
            raise ValueError(f"unknown distribution {self.kind!r}")

    @classmethod
    def fixed(cls, value: float) -> Distribution:
        return cls("fixed", float(value))

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed" or self.a == self.b

    @property
    def sigma(self) -> float:
        """The lognormal shape parameter fitted to the median and p95 (0 for other kinds)."""
        if self.kind != "lognormal":
            return 0.0
        return math.log(self.b / self.a) / Z95

    def sample(self, rng: random.Random | None) -> float:
        """One draw; `rng` may be None only when the distribution is fixed."""
        if self.is_fixed:
            return self.a
        assert rng is not None, "a random distribution needs an rng"
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        return rng.lognormvariate(math.log(self.a), self.sigma)

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"{self.a:g}"
        return f"{self.kind}:{self.a:g}:{self.b:g}"


def parse_distribution(text: str) -> Distribution:
    """`"50"` (fixed), `"lognormal:MEDIAN:P95"` or `"uniform:MIN:MAX"`; ValueError otherwise."""
    parts = text.strip().split(":")
    try:
        numbers = [float(p) for p in parts[1:]] if len(parts) > 1 else [float(parts[0])]
    except ValueError:
        raise ValueError(f"{text!r} is not a number, lognormal:MEDIAN:P95 or uniform:MIN:MAX") from None
    if len(parts) == 1:
        return Distribution.fixed(numbers[0])
    kind = parts[0].lower()
    if kind == "fixed" and len(numbers) == 1:
        return Distribution.fixed(numbers[0])
    if kind in ("lognormal", "uniform") and len(numbers) == 2:
        return Distribution(kind, numbers[0], numbers[1])  # type: ignore[arg-type]
    raise ValueError(f"{text!r} is not a number, lognormal:MEDIAN:P95 or uniform:MIN:MAX")


@dataclass(frozen=True)
class LatencyProfile:
    """How one response is timed: TTFT and ITL in ms, response length in tokens, frame coalescing."""

    ttft_ms: Distribution = Distribution.fixed(50.0)
    itl_ms: Distribution = Distribution.fixed(10.0)
    tokens: Distribution = Distribution.fixed(20.0)
    tokens_per_frame: int = 1

    @property
    def is_fixed(self) -> bool:
        return self.ttft_ms.is_fixed and self.itl_ms.is_fixed and self.tokens.is_fixed


@dataclass(frozen=True)
class Persona:
    """A named latency profile; switching to it costs `switch_ms`."""

    name: str
    profile: LatencyProfile
    switch_ms: float = 0.0


class FrameSlot(NamedTuple):
    """One planned frame: its offset from the turn's start, and the tokens it carries."""

    offset_s: float
    first_token: int
    #: Tokens in the frame (not `count`, which would shadow `tuple.count`).
    tokens: int


@dataclass(frozen=True)
class TurnPlan:
    """The token count of one response and its frame schedule (lazy, in time order)."""

    tokens: int
    frames: Iterator[FrameSlot]


def turn_rng(profile: LatencyProfile, seed: int, *key: object) -> random.Random | None:
    """A reproducible rng for one turn (None when the profile is fully fixed: nothing to draw).

    The same seed and key always give the same draws, whatever other turns run meanwhile.
    """
    if profile.is_fixed:
        return None
    return random.Random("/".join(map(str, (seed, *key))))


def plan_turn(
    profile: LatencyProfile,
    rng: random.Random | None,
    max_tokens: int | None = None,
    prefill_ms: float = 0.0,
    reasoning: int = 0,
) -> TurnPlan:
    """Draw the response length and lay out its frames.

    Token i (0-based) is due at `ttft + prefill_ms + itl_1 + ... + itl_i`; a frame of
    `tokens_per_frame` tokens is due when its last token is. `prefill_ms` is the prefill model's
    cost of the turn's uncached input (reference_server.context). `reasoning` tokens come first,
    before the answer's (capped by `max_tokens`), so the answer's first token is due at
    `ttft + prefill_ms + itl_1 + ... + itl_reasoning`.
    """
    tokens = max(1, int(round(profile.tokens.sample(rng))))
    if max_tokens is not None:
        tokens = max(1, min(tokens, max_tokens))
    tokens += max(0, reasoning)
    return TurnPlan(tokens, _frames(profile, rng, tokens, prefill_ms))


def _frames(profile: LatencyProfile, rng: random.Random | None, tokens: int, prefill_ms: float) -> Iterator[FrameSlot]:
    per_frame = max(1, profile.tokens_per_frame)
    itl = profile.itl_ms
    fixed_itl = itl.a if itl.is_fixed else None
    offset_ms = profile.ttft_ms.sample(rng) + prefill_ms
    first = 0
    last = tokens - 1
    for index in range(tokens):
        if index:
            offset_ms += fixed_itl if fixed_itl is not None else itl.sample(rng)
        if index - first + 1 == per_frame or index == last:
            yield FrameSlot(offset_ms / 1000.0, first, index - first + 1)
            first = index + 1


def token_text(first: int, count: int) -> str:
    """The text of `count` tokens starting at index `first`: `"tok0 tok1 "`. JSON-safe as is."""
    if count == 1:
        return f"tok{first} "
    return "".join([f"tok{i} " for i in range(first, first + count)])
