"""The derived figures of summary.json: each one's definition beside its formula.

The SLO indicators (`rtbench.slo.indicators`) and SCHEMA.md state these definitions; the summary
builder (`rtbench.bundle.builder`) computes these formulas. Ratios are 0..1, rounded to 6 places,
and None when their denominator is 0.
"""

from __future__ import annotations

__all__ = [
    "DELIVERY_RATIO",
    "CONNECT_SUCCESS_RATIO",
    "GOODPUT_RATIO",
    "GOODPUT_PER_S",
    "UPTIME_RATIO",
    "CONTINUITY_RATIO",
    "UNACCOUNTED_TURNS",
    "ratio",
    "delivery_ratio",
    "unaccounted_turns",
    "connect_success_ratio",
    "goodput_ratio",
    "goodput_per_s",
    "uptime_ratio",
    "continuity_ratio",
    "BANDWIDTH_SAVING",
    "CONNECTION_REUSE",
    "bandwidth_saving",
    "connection_reuse",
]

RATIO_PLACES = 6
RATE_PLACES = 3


def ratio(part: float, whole: float) -> float | None:
    """part / whole rounded to 6 places, None when `whole` is not positive."""
    return round(part / whole, RATIO_PLACES) if whole > 0 else None


DELIVERY_RATIO = (
    "turns completed / turns that ended (completed + failed: timeout, error, incomplete, seq gap, "
    "empty); turns cancelled at stop count neither way"
)


def delivery_ratio(completed: int, failed: int) -> float | None:
    """DELIVERY_RATIO: completed / (completed + failed)."""
    return ratio(completed, completed + failed)


UNACCOUNTED_TURNS = (
    "turns sent - completed - failed (every kind) - cancelled: each sent turn ends exactly one of "
    "those ways, so anything but 0 is a lost count"
)


def unaccounted_turns(sent: int, completed: int, failed: int, cancelled: int) -> int:
    """UNACCOUNTED_TURNS: sent - completed - failed - cancelled (0 when every turn is counted)."""
    return sent - completed - failed - cancelled


CONNECT_SUCCESS_RATIO = "connections established / attempted"


def connect_success_ratio(ok: int, failed: int) -> float | None:
    """CONNECT_SUCCESS_RATIO: ok / (ok + failed)."""
    return ratio(ok, ok + failed)


GOODPUT_RATIO = "turns within every per-turn limit / turns that ended (completed + failed) in the reported phases"


def goodput_ratio(good: int, ended: int) -> float | None:
    """GOODPUT_RATIO: good / ended, both counted when turns end (a turn sent in the ramp may end
    in the steady state)."""
    return ratio(good, ended)


GOODPUT_PER_S = "turns within every per-turn limit, per second of the reported phases"


def goodput_per_s(good: int, seconds: float) -> float | None:
    """GOODPUT_PER_S: good / seconds, rounded to 3 places; None without a second."""
    return round(good / seconds, RATE_PLACES) if seconds > 0 else None


UPTIME_RATIO = "connected time over session time: 1 - downtime_us / session_us, summed over sessions"


def uptime_ratio(session_us: int, downtime_us: int) -> float | None:
    """UPTIME_RATIO, never below 0; None when no WebSocket session was held."""
    uptime = ratio(session_us - downtime_us, session_us)
    return None if uptime is None else max(0.0, uptime)


CONTINUITY_RATIO = "share of conversations kept: 1 - sessions_lost / sessions_started"


def continuity_ratio(started: int, lost: int) -> float | None:
    """CONTINUITY_RATIO; None when no session started."""
    return ratio(started - lost, started)


BANDWIDTH_SAVING = (
    "WebSocket bytes saved on the wire, both ways: 1 - wire bytes / payload bytes (frames as on the wire, "
    "headers included, against message payloads before deflate); below 0 without compression"
)


def bandwidth_saving(wire: int, payload: int) -> float | None:
    """BANDWIDTH_SAVING: 1 - wire / payload; None without a payload byte."""
    share = ratio(wire, payload)
    return None if share is None else round(1.0 - share, RATIO_PLACES)


CONNECTION_REUSE = "HTTP requests that reused a connection: 1 - connections opened / requests sent"


def connection_reuse(opened: int, requests: int) -> float | None:
    """CONNECTION_REUSE: 1 - opened / requests, never below 0; None without a request."""
    share = ratio(opened, requests)
    return None if share is None else max(0.0, round(1.0 - share, RATIO_PLACES))
