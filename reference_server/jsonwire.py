"""JSON as the wire carries it: compact ASCII out, strict RFC 8259 in (no NaN, no Infinity)."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "loads"]

#: Compact JSON, ASCII only (so a payload's length in characters is its length in bytes).
dumps = json.JSONEncoder(separators=(",", ":")).encode


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} overflows a double")
    return value


#: `json.loads` that refuses NaN and Infinity and numbers that overflow a double: echoed back, they
#: would make the server write frames that are not JSON. Raises ValueError (RecursionError when
#: nested too deep).
loads = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite).decode
