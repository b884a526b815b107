"""Line numbers of keys in TOML text, for error messages."""

from __future__ import annotations

from rtbench.toml_lines import key_line

TEXT = """\
# scenario
[load]
ttft = "not this one"

[slo]  # the SLOs
connect = "p95 < 50ms"
"itl" = "p95 < 50ms"
e2e.rules = ["p95 < 2s"]
delivery = [
  ">= 99.9%",
]

[slo.ttft]
rules = ["p95 < 100ms"]

[slo.per_turn]
ttft = "100ms"
"""


def test_keys_under_their_table() -> None:
    assert key_line(TEXT, ("slo",), "connect") == 6
    assert key_line(TEXT, ("slo",), "itl") == 7
    assert key_line(TEXT, ("slo",), "e2e") == 8
    assert key_line(TEXT, ("slo",), "delivery") == 9
    assert key_line(TEXT, ("slo", "per_turn"), "ttft") == 17


def test_subtable_header_for_a_table_entry() -> None:
    assert key_line(TEXT, ("slo",), "ttft") == 13


def test_falls_back_to_the_table_header_then_none() -> None:
    assert key_line(TEXT, ("slo",), "absent") == 5
    assert key_line(TEXT, ("nothing",), "absent") is None


def test_dotted_keys_at_top_level() -> None:
    assert key_line('name = "x"\nslo.ttft = "p95 < 1ms"\n', ("slo",), "ttft") == 2
