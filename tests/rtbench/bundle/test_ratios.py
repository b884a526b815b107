"""Each derived ratio: its formula, and the definition the SLO indicators state."""

from __future__ import annotations

from rtbench.bundle import ratios
from rtbench.slo.indicators import INDICATORS


def test_formulas() -> None:
    assert ratios.delivery_ratio(7, 3) == 0.7 and ratios.delivery_ratio(0, 0) is None
    assert ratios.connect_success_ratio(4, 1) == 0.8 and ratios.connect_success_ratio(0, 0) is None
    assert ratios.goodput_ratio(2, 3) == 0.666667 and ratios.goodput_ratio(0, 0) is None
    assert ratios.goodput_per_s(7, 13.0) == 0.538 and ratios.goodput_per_s(7, 0.0) is None
    assert ratios.uptime_ratio(40_000_000, 1_250_000) == 0.96875 and ratios.uptime_ratio(0, 0) is None
    assert ratios.uptime_ratio(10, 20) == 0.0  # downtime counted past the session's end: never below 0
    assert ratios.continuity_ratio(6, 2) == 0.666667 and ratios.continuity_ratio(0, 0) is None


def test_slo_indicators_state_the_definitions_beside_the_formulas() -> None:
    assert INDICATORS["delivery"].definition == ratios.DELIVERY_RATIO
    assert INDICATORS["connect_success"].definition == ratios.CONNECT_SUCCESS_RATIO
    assert INDICATORS["goodput_ratio"].definition == ratios.GOODPUT_RATIO
    assert INDICATORS["goodput"].definition == ratios.GOODPUT_PER_S
    assert INDICATORS["uptime"].definition == ratios.UPTIME_RATIO
    assert INDICATORS["continuity"].definition == ratios.CONTINUITY_RATIO
    assert "turns that ended" in ratios.GOODPUT_RATIO and "sent" not in ratios.GOODPUT_RATIO
