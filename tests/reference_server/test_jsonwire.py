"""Wire JSON: compact ASCII out; strict in, so nothing the server echoes can turn into non-JSON."""

from __future__ import annotations

import pytest

from reference_server.jsonwire import dumps, loads


def test_dumps_is_compact_ascii() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"\\u00e9"]}'


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}', "1e999", '{"id": -1E400}'])
def test_loads_refuses_what_is_not_json_or_overflows(text: str) -> None:
    """Regression (found by the fuzz suite): a ping with id 1e999 was answered with `"id":Infinity`."""
    with pytest.raises(ValueError):
        loads(text)


def test_loads_keeps_ordinary_numbers() -> None:
    assert loads('{"a": 1.5e3, "b": -0.0, "c": 10000000000000000000000, "d": 1e-400}') == {
        "a": 1500.0,
        "b": -0.0,
        "c": 10**22,
        "d": 0.0,
    }
