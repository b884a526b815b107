"""The throughput headline and the chart of TTFT against input tokens: first on the page, with a
word on estimated counts, and a chart drawn from `metrics_by_input_tokens`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtbench.bundle.throughput import ESTIMATED, THROUGHPUT_FIGURES, throughput_line
from rtbench.report import charts
from rtbench.report.throughput import headline_section, ttft_by_input_chart, ttft_by_input_tokens

THROUGHPUT: dict[str, Any] = {
    "seconds": 30.0,
    "requests_per_s": 20.0,
    "output_tokens_per_s": 100.0,
    "input_tokens_per_s": 2500.0,
    "mean_users": 100.0,
    "output_tokens_per_s_per_user": 1.0,
    "input_tokens_per_s_per_user": 25.0,
    "goodput_per_s": 19.5,
    "input_token_method": "estimate",
    "output_token_method": "usage",
}
BY_INPUT = {
    "64": {"ttft": {"count": 120, "p50": 21.0, "p95": 30.0}},
    "256": {"ttft": {"count": 300, "p50": 35.0, "p95": 52.0}},
    "1024": {"ttft": {"count": 80, "p50": 90.0, "p95": 140.0}},
}


def test_the_headline_states_every_figure_and_that_input_counts_are_estimates() -> None:
    html = headline_section({"throughput": THROUGHPUT, "include_ramp": False})  # type: ignore[typeddict-item]
    assert html is not None and 'id="throughput-headline"' in html
    for name in THROUGHPUT_FIGURES:
        assert name in html
    assert ESTIMATED in html and "steady phase" in html
    exact = headline_section({"throughput": {**THROUGHPUT, "input_token_method": "usage"}})  # type: ignore[typeddict-item]
    assert exact is not None and ESTIMATED not in exact
    assert headline_section({}) is None  # type: ignore[typeddict-item]  # a bundle older than the section


def test_the_console_line_reads_throughput_first_and_says_estimated() -> None:
    line = throughput_line(THROUGHPUT)
    assert line.startswith("20 req/s, output 100 tok/s (1 a user), input 2,500 tok/s (25 a user), goodput 19.5/s")
    assert line.endswith(f"over 30 s, 100 users; input tokens {ESTIMATED}")
    rounded = throughput_line({**THROUGHPUT, "requests_per_s": 131.714, "output_tokens_per_s_per_user": 26.343})
    assert rounded.startswith("132 req/s, output 100 tok/s (26.3 a user)")  # summary.json keeps 131.714
    frames = throughput_line({**THROUGHPUT, "input_token_method": "usage", "output_token_method": "frames"})
    assert ESTIMATED not in frames and "one per content frame" in frames


def test_ttft_by_input_chart_draws_the_buckets_with_values() -> None:
    chart = ttft_by_input_chart({"metrics_by_input_tokens": BY_INPUT, "throughput": THROUGHPUT})  # type: ignore[typeddict-item]
    assert chart is not None and chart.name == "ttft_by_input_tokens" and chart.png.startswith(charts.PNG_SIGNATURE)
    assert "estimate" in chart.caption
    assert ttft_by_input_tokens([]) is None
    assert ttft_by_input_chart({"metrics_by_input_tokens": {}}) is None  # type: ignore[typeddict-item]


def test_the_report_opens_with_throughput_and_holds_the_input_chart(make_bundle: Callable[..., Path]) -> None:
    from rtbench.report import render_report

    directory = make_bundle()
    summary = json.loads((directory / "summary.json").read_text())
    summary.update(throughput=THROUGHPUT, metrics_by_input_tokens=BY_INPUT)
    (directory / "summary.json").write_text(json.dumps(summary))
    html = render_report(directory).read_text(encoding="utf-8")
    ids = re.findall(r'<section id="([\w-]+)">', html)
    assert ids[0] == "throughput-headline" and ids[1] == "verdict", ids
    assert (directory / "report" / "ttft_by_input_tokens.png").exists()
    assert "ttft_answer" in html and "output_tokens_per_s_per_user" in html  # the definitions table
