"""Plain-text renderings of quantities, shared by the terminal, Markdown, JUnit and HTML outputs."""

from __future__ import annotations

__all__ = ["format_number", "format_quantity", "format_signed", "format_percent"]

_ATTACHED_UNITS = ("%", "/s", "")


def format_number(value: float, decimals: int = 3) -> str:
    """`value` with thousands separators and at most `decimals` decimals, trailing zeros dropped."""
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimals(unit: str) -> int:
    return 4 if unit == "%" else 3


def format_quantity(value: float | None, unit: str) -> str:
    """ "100 ms", "99.95%", "10 MB", "10,000", "50/s"; "-" for None."""
    if value is None:
        return "-"
    number = format_number(value, _decimals(unit))
    return f"{number}{unit}" if unit in _ATTACHED_UNITS else f"{number} {unit}"


def format_signed(value: float | None, unit: str) -> str:
    """Like `format_quantity` with a sign: "+4.2 ms", "-0.05%"."""
    if value is None:
        return "-"
    sign = "+" if value >= 0 else "-"
    return sign + format_quantity(abs(value), unit)


def format_percent(value: float | None) -> str:
    """A signed percentage with one decimal: "+12.5%"; "-" for None."""
    if value is None:
        return "-"
    return f"{value:+,.1f}%"
