"""Admission limits: the open-session cap and per-session prompt rate limits (token buckets).

Pure bookkeeping with an injected clock: no sockets, no asyncio. The handlers ask, and answer a
refusal with the protocol's error (PROTOCOL.md, "Limits").

The token bucket is written here rather than taken from `token-bucket` or `aiolimiter`: the
handlers need a non-blocking "take one, or how long until one is free" (for `Retry-After`), and
buckets that die with their session; `token-bucket` keeps every key it ever saw and tells no wait
time, and `aiolimiter` only waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["BucketStore", "RateLimiter", "Refusal", "SessionGate", "TokenBucket", "check_prompt"]

Clock = Callable[[], float]


class TokenBucket:
    """Holds up to `burst` tokens and gains `rate` per second; a prompt spends one."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Spend a token: 0.0 if one was there, else the seconds until one will be (none is spent)."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled (it is then no different from a new one)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class RateLimiter:
    """Hands out a bucket per session; `rate` 0 turns limiting off (no bucket, every prompt passes)."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def bucket(self) -> TokenBucket | None:
        """A full bucket for a new session, or None when limiting is off."""
        return TokenBucket(self.rate, self.burst, self.clock()) if self.enabled else None

    def wait(self, bucket: TokenBucket | None) -> float:
        """0.0 when the prompt may go (a token was spent), else the seconds until it could."""
        return 0.0 if bucket is None else bucket.take(self.clock())


class BucketStore:
    """Buckets by key (an `Authorization` value), at most `capacity`; refilled buckets are forgotten."""

    def __init__(self, limiter: RateLimiter, capacity: int = 10000) -> None:
        self.limiter = limiter
        self.capacity = capacity
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def wait(self, key: str) -> float:
        """Like `RateLimiter.wait`, for the bucket of `key` (created full when new)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self.limiter.bucket()
            if bucket is None:
                return 0.0
            if len(self._buckets) >= self.capacity:
                self.prune()
                if len(self._buckets) >= self.capacity:
                    del self._buckets[next(iter(self._buckets))]  # the oldest key
            self._buckets[key] = bucket
        return self.limiter.wait(bucket)

    def prune(self) -> None:
        """Forget the buckets that have refilled."""
        now = self.limiter.clock()
        for key in [key for key, bucket in self._buckets.items() if bucket.full(now)]:
            del self._buckets[key]


class SessionGate:
    """Counts open sessions against `limit` (0 = unlimited)."""

    __slots__ = ("limit", "open")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> bool:
        """Take a place for a new session; False (and nothing taken) when all are taken."""
        if self.limit and self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


class Refusal(NamedTuple):
    """Why a prompt is refused: the protocol's error code, a message, and when to retry (rate limits)."""

    code: str
    message: str
    retry_after_s: float | None = None


def check_prompt(max_inflight: int, in_flight: int, rate: RateLimiter, bucket: TokenBucket | None) -> Refusal | None:
    """None if a session with `in_flight` unfinished prompts may start one more (a token is spent)."""
    if max_inflight and in_flight >= max_inflight:
        return Refusal(
            "inflight_limit",
            f"{in_flight} prompts or persona switches are in flight, the most a "
            "session may have; wait for one to finish",
        )
    wait = rate.wait(bucket)
    if wait:
        return Refusal(
            "rate_limited",
            f"over the limit of {rate.rate:g} prompts/s (burst {rate.burst}); retry in {wait:.3f} s",
            round(wait, 3),
        )
    return None
