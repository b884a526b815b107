"""The conversation charts: valid PNGs of the report's width when there is data, None otherwise."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import numpy as np

from rtbench.report import charts
from rtbench.report.turn_charts import persona_switch_against_same, ttft_by_turn


def _figures(p50: float, p95: float, count: int) -> dict[str, float | int]:
    return {"count": count, "p50": p50, "p95": p95, "p99": p95 * 1.2}


def _decoded(png: bytes | None) -> np.ndarray:
    assert png is not None and png.startswith(charts.PNG_SIGNATURE)
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.shape[1] == charts.WIDTH_IN * charts.DPI and pixels.shape[0] > 200
    assert float(pixels[..., :3].std()) > 0.05
    return pixels


def test_ttft_by_turn_draws_the_turns_with_values() -> None:
    rows = [(str(k), _figures(50 + 4 * k, 60 + 5 * k, 100)) for k in range(1, 10)] + [("10+", _figures(95, 120, 40))]
    _decoded(ttft_by_turn(rows))
    two = _decoded(ttft_by_turn(rows[:2]))
    assert not np.array_equal(two, _decoded(ttft_by_turn(rows[:3])))


def test_ttft_by_turn_without_values_is_no_chart() -> None:
    assert ttft_by_turn([]) is None
    assert ttft_by_turn([("1", {"count": 0, "p50": None, "p95": None})]) is None


def test_persona_switch_against_same_persona() -> None:
    both = _decoded(persona_switch_against_same(_figures(95, 130, 12), _figures(55, 70, 300)))
    only_switch = _decoded(persona_switch_against_same(_figures(95, 130, 12), None))  # a native persona mix
    assert not np.array_equal(both, only_switch)
    assert persona_switch_against_same(None, None) is None
    assert persona_switch_against_same({"count": 0}, {"count": 0}) is None
