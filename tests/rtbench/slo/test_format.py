"""Quantities as text."""

from __future__ import annotations

from rtbench.slo.format import format_number, format_percent, format_quantity, format_signed


def test_numbers() -> None:
    assert format_number(10000.0) == "10,000"
    assert format_number(51.5510) == "51.551"
    assert format_number(0.02281543) == "0.023"
    assert format_number(-0.0001) == "0"


def test_quantities_and_signs() -> None:
    assert format_quantity(100.0, "ms") == "100 ms"
    assert format_quantity(99.9995, "%") == "99.9995%"
    assert format_quantity(10.0, "MB") == "10 MB"
    assert format_quantity(50.0, "/s") == "50/s"
    assert format_quantity(10000.0, "") == "10,000"
    assert format_quantity(None, "ms") == "-"
    assert format_signed(-0.127, "ms") == "-0.127 ms"
    assert format_signed(4.0, "pp") == "+4 pp"
    assert format_percent(12.345) == "+12.3%"
    assert format_percent(None) == "-"
