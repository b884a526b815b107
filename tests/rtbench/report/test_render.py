"""`render_report`: report.html and PNGs in the bundle, with SLOs, a baseline, a partial bundle."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rtbench.errors import ConfigError
from rtbench.report import render_report
from rtbench.report.charts import PNG_SIGNATURE
from rtbench.report.render import CHART_DIR, REPORT_FILE
from rtbench.slo.format import format_number
from rtbench.slo.spec import parse_slo_table

IMAGE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _pngs(bundle: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted((bundle / CHART_DIR).glob("*.png"))}


def _slo_rows(html: str) -> list[str]:
    table = html[html.index('id="slo-table"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr class="(\w+)"><td>([^<]*)</td>', table)


def test_report_in_the_bundle(rendered: Path) -> None:
    html = (rendered / REPORT_FILE).read_text(encoding="utf-8")
    pngs = _pngs(rendered)
    assert set(pngs) == {"latency_over_time", "percentiles", "distributions", "throughput", "client", "target"}
    embedded = [base64.b64decode(m) for m in IMAGE.findall(html)]
    assert sorted(embedded) == sorted(pngs.values())
    assert all(png.startswith(PNG_SIGNATURE) for png in embedded)
    assert 'class="badge badge-fail">FAIL<' in html
    assert _slo_rows(html) == [("pass", "ttft p95"), ("pass", "delivery"), ("fail", "e2e p99")]


def test_sections_come_in_order(rendered: Path) -> None:
    html = (rendered / REPORT_FILE).read_text(encoding="utf-8")
    ids = re.findall(r'<section id="([\w-]+)">', html)
    assert ids == [
        "verdict",
        "config",
        "phases",
        "events",
        "latency",
        "throughput",
        "self-check",
        "target",
        "definitions",
        "tokens",
        "warnings",
    ]


def test_nothing_external(rendered: Path) -> None:
    html = (rendered / REPORT_FILE).read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(ref.startswith("data:image/png;base64,") for ref in refs)
    assert "<link" not in html and "<script" not in html and "@import" not in html and "url(" not in html


def test_baseline_adds_curves_and_deltas(make_bundle: Callable[..., Path]) -> None:
    baseline = make_bundle("old", seed=7)
    current = make_bundle("new", seed=8)
    html = render_report(current, baseline_dir=baseline).read_text(encoding="utf-8")
    assert "baseline_percentiles" in _pngs(current)
    assert len(IMAGE.findall(html)) == 7
    delta = html[html.index('id="delta-table"') :]
    delta = delta[: delta.index("</table>")]
    assert delta.count("<tr") == 1 + 5 * 3  # header; connect, ttft, itl, tpot, e2e x p50, p95, p99
    assert html.index('id="baseline"') < html.index('id="config"')
    render_report(current)  # again without the baseline: its chart goes
    assert "baseline_percentiles" not in _pngs(current)


def test_a_killed_bundle_is_rebuilt_from_its_intervals(bundle: Path) -> None:
    """No summary.json: PARTIAL first, figures rebuilt from the .hlog intervals and time series."""
    complete = json.loads((bundle / "summary.json").read_text())
    (bundle / "summary.json").unlink()
    html = render_report(bundle).read_text(encoding="utf-8")
    body = html[html.index("<main>") :]
    assert body.index('id="partial-banner"') < body.index('id="verdict"')
    assert "PARTIAL RUN: killed, no summary.json. Every figure below was rebuilt" in html
    assert 'class="badge badge-partial">PARTIAL<' in html
    assert "Partial bundle: killed: the run ended without writing summary.json." in html
    # the latency table holds the steady-phase figures summary.json had, to the microsecond
    for metric in ("ttft", "itl", "e2e"):
        p99 = complete["metrics"][metric]["p99"]
        assert re.search(
            rf"<td>{metric}</td><td>steady phase</td>(<td[^>]*>[^<]*</td>)*?<td class=\"num\">{p99:,.3f}</td>", html
        ), metric
    # delivery from the time series: every turn completed
    completed = complete["delivery"]["turns_completed"]
    assert f"<td>turns_completed</td><td>{completed:,}</td>" in html and "<td>delivery_ratio</td><td>1</td>" in html
    assert {"latency_over_time", "percentiles", "distributions", "throughput", "client"} <= set(_pngs(bundle))


def test_partial_bundle_renders_what_there_is(bundle: Path) -> None:
    (bundle / "summary.json").unlink()
    (bundle / "itl.hlog").unlink()
    (bundle / "timeseries.csv").unlink()
    html = render_report(bundle).read_text(encoding="utf-8")
    assert 'class="badge badge-partial">PARTIAL<' in html
    assert "PARTIAL RUN: killed, no summary.json" in html and "missing timeseries.csv" in html
    assert "itl" not in re.findall(r"<td>(\w+)</td><td>steady phase</td>", html)
    assert {"percentiles", "distributions"} <= set(_pngs(bundle))


def test_partial_flag_with_slos(bundle: Path) -> None:
    summary_path = bundle / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(partial=True, partial_reason="interrupted")
    summary_path.write_text(json.dumps(summary))
    html = render_report(bundle).read_text(encoding="utf-8")
    assert "PARTIAL<" in html and "Partial bundle: interrupted." in html
    assert len(_slo_rows(html)) == 3


def test_no_target_data(make_bundle: Callable[..., Path]) -> None:
    bundle = make_bundle(target=False)
    html = render_report(bundle).read_text(encoding="utf-8")
    assert "target" not in _pngs(bundle)
    assert "The target was not monitored" in html


def test_slo_file_and_spec_override_the_scenario(bundle: Path, tmp_path: Path) -> None:
    slo_file = tmp_path / "slo.toml"
    slo_file.write_text('[slo]\nitl = "p99 < 1s"\n')
    html = render_report(bundle, slo_spec=slo_file).read_text(encoding="utf-8")
    assert _slo_rows(html) == [("pass", "itl p99")] and "PASS<" in html
    spec = parse_slo_table({"tpot": "p50 < 1ms"}, "inline")
    html = render_report(bundle, slo_spec=spec).read_text(encoding="utf-8")
    assert _slo_rows(html) == [("fail", "tpot p50")]


def test_bad_slo_is_a_config_error(make_bundle: Callable[..., Path]) -> None:
    bundle = make_bundle(slo={"ttft": "p95 about 100ms"})
    with pytest.raises(ConfigError):
        render_report(bundle)


def _section(html: str, anchor: str) -> str:
    part = html[html.index(f'<section id="{anchor}">') :]
    return part[: part.index("</section>")]


def test_conversations_get_their_section_and_charts(make_bundle: Callable[..., Path]) -> None:
    """A run of 12-turn conversations: TTFT by turn and after a persona switch, charted beside the
    latency section; the by-turn histograms are in no latency table or percentile chart. A killed
    run's bundle shows the same, rebuilt from the interval logs."""
    bundle = make_bundle("talk", conversation_turns=12, seconds=20, ramp_s=3, stop_s=2)
    complete = json.loads((bundle / "summary.json").read_text())
    assert list(complete["metrics_by_turn"]) == [*map(str, range(1, 10)), "10+"]
    for rebuilt in (False, True):
        if rebuilt:
            (bundle / "summary.json").unlink()
        html = render_report(bundle).read_text(encoding="utf-8")
        ids = re.findall(r'<section id="([\w-]+)">', html)
        assert ids.index("conversation") == ids.index("latency") + 1
        pngs = _pngs(bundle)
        assert {"ttft_by_turn", "persona_switch"} <= set(pngs)
        embedded = [base64.b64decode(m) for m in IMAGE.findall(html)]
        assert pngs["ttft_by_turn"] in embedded and pngs["persona_switch"] in embedded
        conversation = _section(html, "conversation")
        rows = re.findall(r"<tr><td>([^<]+)</td>", conversation[conversation.index('id="by-turn-table"') :])
        assert rows[:10] == [*map(str, range(1, 10)), "10+"]
        turn_1 = complete["metrics_by_turn"]["1"]["ttft"]
        p50 = format_number(turn_1["p50"])
        assert f'<td>1</td><td class="num">{turn_1["count"]:,}</td><td class="num">{p50}</td>' in html
        latency = _section(html, "latency")
        assert "ttft_same_persona" in latency and "@" not in "".join(re.findall(r"<td>([^<]*)</td>", latency))
        assert ("conversations_started" in conversation) is not rebuilt  # a counter only the run's end knows
