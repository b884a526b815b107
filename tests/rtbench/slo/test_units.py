"""Quantities in SLO rules: numbers, units per dimension, conversions from the base unit."""

from __future__ import annotations

import pytest

from rtbench.slo.units import COUNT, DURATION, MEMORY, PERCENT, RATIO, THROUGHPUT, parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("100ms", DURATION, (100.0, "ms")),
        (" 1.5 s ", DURATION, (1.5, "s")),
        ("99.9%", RATIO, (99.9, "%")),
        ("100%", RATIO, (100.0, "%")),
        ("60 %", PERCENT, (60.0, "%")),
        ("10mb", MEMORY, (10.0, "MB")),
        ("512KB", MEMORY, (512.0, "KB")),
        ("10,000", COUNT, (10000.0, "")),
        ("10_000", COUNT, (10000.0, "")),
        ("5000", COUNT, (5000.0, "")),
        ("50/s", THROUGHPUT, (50.0, "/s")),
        (".5s", DURATION, (0.5, "s")),
    ],
)
def test_parse(text: str, dimension: object, expected: tuple[float, str]) -> None:
    assert parse_quantity(text, dimension) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "dimension", "message"),
    [
        ("fast", DURATION, "a duration such as 100ms"),
        ("100", DURATION, "a duration such as 100ms"),
        ("100%", DURATION, "a duration such as 100ms"),
        ("-1ms", DURATION, "a duration such as 100ms"),
        ("0.999", RATIO, "a percentage such as 99.9%"),
        ("100.1%", RATIO, "a percentage such as 99.9% (at most 100%)"),
        ("10GB", MEMORY, "a size such as 10MB or 512KB"),
        ("1,00", COUNT, "a count such as 10000"),
        ("50", THROUGHPUT, "a rate such as 50/s"),
    ],
)
def test_rejects_with_what_was_expected(text: str, dimension: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity(text, dimension)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_factors_from_the_base_unit() -> None:
    assert 250.0 * DURATION.factor("s") == 0.25
    assert 0.5 * RATIO.factor("%") == 50.0
    assert 5120.0 * MEMORY.factor("MB") == 5.0
    with pytest.raises(KeyError):
        DURATION.factor("%")
