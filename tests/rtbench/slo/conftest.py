"""A summary.json with known round values (tests/rtbench/slo/data/known-summary.json).

Latency metrics: p50 = base, p90 = base + 2, p95 = base + 4, p99 = base + 8, p99.9 = base + 16,
max = base + 20, mean = base + 1, with base 10 (connect, itl, tpot), 50 (ttft), 240 (e2e), 1
(client_lag). Delivery 99.95%, connect success 99.8%, success 9990 / 9995, sessions peak 1000,
target 51.2 KB per session and 45% CPU, goodput 99/s and ratio 0.990495.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

KNOWN_SUMMARY = json.loads((Path(__file__).parent / "data" / "known-summary.json").read_text())


@pytest.fixture
def summary() -> dict[str, Any]:
    """A fresh deep copy of the known summary, free to modify."""
    return copy.deepcopy(KNOWN_SUMMARY)
