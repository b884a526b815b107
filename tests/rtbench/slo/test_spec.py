"""The [slo] table: entry forms, rule grammar, one-line errors with file and line, per-turn limits."""

from __future__ import annotations

import tomllib

import pytest

from rtbench.errors import ConfigError
from rtbench.slo.spec import Rule, SloSpec, Threshold, parse_slo_table, split_rule, turn_limits
from rtbench.slo.tolerances import Tolerances


def parse(text: str, source: str = "slo.toml") -> SloSpec:
    return parse_slo_table(tomllib.loads(text)["slo"], source, text)


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_string_list_and_table_forms() -> None:
    spec = parse(
        '[slo]\nttft = "p95 < 100ms"\nitl = ["p95 < 50ms", "p99.9 <= 0.2s"]\n'
        'e2e = { rules = ["max < 2s"], note = "  why  " }\n'
        '[slo.connect]\nrules = "p99 < 50ms"\nnote = "handshake"\n'
    )
    assert [o.name for o in spec.objectives] == ["ttft", "itl", "e2e", "connect"]
    assert spec.rules[1] == Rule("itl", "p95 < 50ms", "p95", "<", Threshold(50.0, "ms"))
    assert spec.rules[2] == Rule("itl", "p99.9 <= 0.2s", "p99.9", "<=", Threshold(0.2, "s"))
    assert spec.note_for("e2e") == "why"
    assert spec.note_for("connect") == "handshake"
    assert spec.source == "slo.toml"


def test_rates_counts_resources_and_goodput() -> None:
    spec = parse(
        '[slo]\ndelivery = ">= 99.9%"\nsuccess = "> 99.95 %"\nsessions_peak = ">= 10,000"\n'
        'server_rss_per_session = "< 10mb"\nserver_cpu = "< 60%"\ngoodput = ">= 50/s"\ngoodput_ratio = ">= 99%"\n'
    )
    assert [(r.label, r.operator, r.threshold) for r in spec.rules] == [
        ("delivery", ">=", Threshold(99.9, "%")),
        ("success", ">", Threshold(99.95, "%")),
        ("sessions_peak", ">=", Threshold(10000.0, "")),
        ("server_rss_per_session", "<", Threshold(10.0, "MB")),
        ("server_cpu", "<", Threshold(60.0, "%")),
        ("goodput", ">=", Threshold(50.0, "/s")),
        ("goodput_ratio", ">=", Threshold(99.0, "%")),
    ]


def test_split_rule() -> None:
    assert split_rule(" p99.9<=100ms ") == ("p99.9", "<=", "100ms")
    assert split_rule(">= 99%") == (None, ">=", "99%")
    with pytest.raises(ValueError):
        split_rule("p95 = 100ms")


def test_bad_duration_names_file_line_key_and_expectation() -> None:
    text = '# SLOs\n[slo]\nttft = "p95 < fast"\n'
    assert error(text) == 'slo.toml:3: ttft: "p95 < fast": expected a duration such as 100ms'


def test_line_of_a_later_key_and_of_a_subtable() -> None:
    assert error('[slo]\nttft = "p95 < 1ms"\n\ndelivery = "99%"\n').startswith("slo.toml:4: delivery:")
    text = '[slo]\nttft = "p95 < 1ms"\n\n[slo.itl]\nnote = "x"\nrules = ["p95 < 1 parsec"]\n'
    assert error(text).startswith("slo.toml:4: itl:")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('ttft = "< 100ms"', 'ttft: "< 100ms": expected a statistic (p50, p90, p95, p99, p99.9, max, mean) before'),
        ('ttft = "p97 < 100ms"', "got 'p97'"),
        ('ttft = "p95 < 100%"', "expected a duration such as 100ms"),
        ('ttft = "p95 100ms"', 'expected a rule such as "p95 < 100ms"'),
        ('ttft = "p95 < -5ms"', "expected a duration"),
        ('delivery = "p95 >= 99%"', 'expected no statistic for delivery, as in ">= 99.9%"'),
        ('delivery = ">= 0.999"', "expected a percentage such as 99.9%"),
        ('delivery = ">= 101%"', "at most 100%"),
        ('sessions_peak = ">= lots"', "expected a count such as 10000"),
        ('server_rss_per_session = "< 10GB"', "expected a size such as 10MB"),
        ('goodput = ">= 50"', "expected a rate such as 50/s"),
        ("ttft = 100", "expected a rule such as"),
        ("ttft = []", "expected a rule such as"),
        ('ttft = { rule = "p95 < 1ms" }', "got keys ['rule']"),
        ('ttft = { rules = "p95 < 1ms", note = 3 }', "expected the note to be a string"),
        ('latency = "p95 < 1ms"', "latency: unknown SLO; expected one of connect, ttft"),
    ],
)
def test_errors_say_what_was_expected(line: str, expected: str) -> None:
    message = error(f"[slo]\n{line}\n")
    assert message.startswith("slo.toml:2: ")
    assert expected in message


def test_error_without_text_has_no_line() -> None:
    with pytest.raises(ConfigError, match=r"^bundle/summary.json: ttft: "):
        parse_slo_table({"ttft": "p95 < slow"}, "bundle/summary.json")


def test_per_turn_table() -> None:
    spec = parse('[slo]\nttft = "p95 < 300ms"\n[slo.per_turn]\nttft = "150ms"\ne2e = "2s"\n')
    assert spec.per_turn_ms == (("ttft", 150.0), ("e2e", 2000.0))
    assert turn_limits(spec) == {"ttft": 150.0, "e2e": 2000.0}
    assert error('[slo]\n[slo.per_turn]\nitl = "10ms"\n').startswith(
        "slo.toml:3: per_turn.itl: unknown per-turn metric; expected one of ttft, tpot, e2e"
    )
    assert "per_turn.ttft: 100: expected a duration such as 100ms" in error("[slo.per_turn]\nttft = 100\n")


def test_turn_limits_take_the_strictest_upper_bound_of_percentiles_and_max() -> None:
    spec = parse(
        '[slo]\nttft = ["p95 < 100ms", "p99 <= 0.08s", "mean < 10ms", "p50 > 1ms"]\n'
        'tpot = "max < 40ms"\nitl = "p95 < 5ms"\nconnect = "p95 < 5ms"\n'
    )
    assert turn_limits(spec) == {"ttft": 80.0, "tpot": 40.0}
    assert turn_limits(parse('[slo]\ndelivery = ">= 99%"\n')) == {}


def test_regression_table() -> None:
    spec = parse(
        '[slo.regression]\ndefault = "20%"\nfloor = "2ms"\nttft = "5%"\nconnect = "off"\nmin_tail_samples = 0\n'
    )
    assert spec.tolerances == Tolerances(0.20, 2.0, (("ttft", 0.05), ("connect", None)), 0)
    assert "min_tail_samples: -1: expected a whole number" in error("[slo.regression]\nmin_tail_samples = -1\n")
    assert spec.objectives == ()
    assert "regression.default: 'off': expected a percentage" in error('[slo.regression]\ndefault = "off"\n')
    assert error('[slo.regression]\nfoo = "5%"\n').startswith("slo.toml:2: regression.foo: unknown key")
    assert "regression.floor: 'soon': expected a duration" in error('[slo.regression]\nfloor = "soon"\n')
    assert "regression: expected a table" in error('[slo]\nregression = "5%"\n')
