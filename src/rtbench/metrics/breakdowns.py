"""Metrics recorded a second time, broken down: by a conversation's turn index ("ttft@3") and by
the turn's input size ("ttft@in:512"). Their names are made and decoded here only; such
histograms stay out of `metrics`, clamped counts and SLO names (`is_breakdown_metric`).
"""

from __future__ import annotations

import re

__all__ = [
    "BY_TURN_TAIL",
    "BY_TURN_METRICS",
    "by_turn_metric",
    "split_by_turn",
    "turn_key_index",
    "by_turn_order",
    "BY_INPUT_METRICS",
    "BY_INPUT_TOP",
    "input_bucket",
    "by_input_metric",
    "split_by_input",
    "by_input_order",
    "is_breakdown_metric",
]


# -- by-turn metrics: a metric per turn index of a conversation ---------------------------------

#: Turn indexes from this one on share one key, "10+": the tail of long conversations.
BY_TURN_TAIL = 10
#: The metrics recorded per turn index, in report order (summary.json `metrics_by_turn`).
BY_TURN_METRICS: tuple[str, ...] = ("ttft", "tpot", "e2e")
_BY_TURN = "@"
_BY_TURN_KEY = re.compile(r"[1-9][0-9]*\+?")


def by_turn_metric(metric: str, index: int) -> str:
    """The histogram of `metric` at the turn `index` (1-based) of a conversation: "ttft@3", and
    "ttft@10+" for every index from `BY_TURN_TAIL` on."""
    if index < 1:
        raise ValueError(f"a turn index is 1 or more, not {index}")
    key = f"{BY_TURN_TAIL}+" if index >= BY_TURN_TAIL else str(index)
    return f"{metric}{_BY_TURN}{key}"


def split_by_turn(name: str) -> tuple[str, str] | None:
    """(metric, turn key) of a by-turn metric name ("ttft@10+" -> ("ttft", "10+")), None for any
    other metric. A key is a turn index, or an index and "+" (the tail)."""
    metric, sep, key = name.partition(_BY_TURN)
    if not sep or not metric or not _BY_TURN_KEY.fullmatch(key):
        return None
    return metric, key


def turn_key_index(key: str) -> int | None:
    """The turn index a turn key stands for ("3" -> 3, "10+" -> 10), None for no key."""
    return int(key.rstrip("+")) if _BY_TURN_KEY.fullmatch(key) else None


def by_turn_order(key: str) -> tuple[int, bool]:
    """The sort key of a turn key (`split_by_turn`): turn order, "10+" after "10"."""
    return turn_key_index(key) or 0, key.endswith("+")


# -- by-input metrics: a metric per input-size bucket -------------------------------------------

#: The metrics recorded per input-size bucket (summary.json `metrics_by_input_tokens`).
BY_INPUT_METRICS: tuple[str, ...] = ("ttft",)
#: The last bucket's floor: every turn of this many input tokens or more shares the key "65536+".
BY_INPUT_TOP = 65536
_BY_INPUT = "@in:"
_BY_INPUT_KEY = re.compile(r"(?:[1-9][0-9]*)\+?")


def input_bucket(tokens: int) -> str:
    """The bucket key of a turn of `tokens` input tokens: the power of two at or below it ("1",
    "2", "4", ... "32768"), or "65536+" from `BY_INPUT_TOP` on."""
    if tokens < 1:
        raise ValueError(f"a bucket holds 1 input token or more, not {tokens}")
    if tokens >= BY_INPUT_TOP:
        return f"{BY_INPUT_TOP}+"
    return str(1 << (tokens.bit_length() - 1))


def by_input_metric(metric: str, tokens: int) -> str:
    """The histogram of `metric` for turns of `tokens` input tokens: "ttft@in:512"."""
    return f"{metric}{_BY_INPUT}{input_bucket(tokens)}"


def split_by_input(name: str) -> tuple[str, str] | None:
    """(metric, bucket key) of a by-input metric name ("ttft@in:512" -> ("ttft", "512")), None for
    any other metric."""
    metric, sep, key = name.partition(_BY_INPUT)
    if not sep or not metric or not _BY_INPUT_KEY.fullmatch(key):
        return None
    return metric, key


def by_input_order(key: str) -> int:
    """The sort key of a bucket key (`split_by_input`): its size ("65536+" last)."""
    return int(key.rstrip("+"))


def is_breakdown_metric(name: str) -> bool:
    """True for a metric recorded a second time by turn index or by input size ("ttft@3",
    "ttft@in:512"): such histograms stay out of `metrics`, clamped counts and SLO names."""
    return split_by_turn(name) is not None or split_by_input(name) is not None
