"""The run sections: redacted config, phases, saturation in red, target notes, definitions."""

from __future__ import annotations

import json
from pathlib import Path

from rtbench.metrics.names import COUNTERS, LATENCY_METRICS
from rtbench.report.frames import load_bundle
from rtbench.report.sections import (
    config_section,
    definitions_section,
    format_time,
    phases_section,
    self_check_section,
    target_section,
    tokens_section,
    untrusted_seconds,
    warnings_section,
)


def test_config_redacts_secret_headers_and_escapes() -> None:
    summary = {
        "config": {"headers": [["Authorization", "Bearer s3cret"], ["X-Trace", "<b>1</b>"]], "target_pid": 17140}
    }
    html = config_section(summary)
    assert "s3cret" not in html and "***" in html
    assert "&lt;b&gt;1&lt;/b&gt;" in html
    assert ">17140<" in html  # a PID, not "17,140"


def test_config_redacts_url_secrets() -> None:
    config = {
        "target": "wss://user:hunter2@example.test/ws?api_key=abc123&model=m1",
        "target_metrics": "http://127.0.0.1:9/metrics",
    }
    html = config_section({"config": config})
    assert "hunter2" not in html and "abc123" not in html
    assert "wss://user:***@example.test/ws?api_key=***&amp;model=m1" in html
    assert "http://127.0.0.1:9/metrics" in html


def test_the_load_model_is_stated() -> None:
    closed = config_section({"config": {"arrival": "closed", "think_time": {"low": 1.0, "high": 3.0, "pacing": False}}})
    assert 'id="load-model"' in closed and "Closed loop" in closed and "1.0-3.0 s after its previous response" in closed
    open_loop = config_section(
        {
            "config": {"arrival": "poisson", "rate": 50.0, "max_in_flight": 20},
            "delivery": {"turns_late": 1234},
        }
    )
    assert "Open loop: poisson arrivals at 50.0 turns/s in all, at most 20 in flight" in open_loop
    assert "planned send time" in open_loop and "1,234 turns started late" in open_loop


def test_long_config_values_are_cut() -> None:
    html = config_section({"config": {"prompts": ["x" * 5000]}})
    assert "x" * 401 not in html and "characters)" in html


def test_phases_and_coverage(bundle: Path) -> None:
    html = phases_section(load_bundle(bundle))
    assert format_time(1_800_000_005.0) in html  # steady start
    assert ">32.000 s<" in html  # steady length
    assert "cover the steady phase only" in html
    assert "(whole_run_metrics): connect" in html


def test_phases_without_summary(bundle: Path) -> None:
    (bundle / "summary.json").unlink()
    html = phases_section(load_bundle(bundle))
    assert "summary.json holds no phase times" in html
    assert format_time(1_800_000_005.0) in html and ">+5.000 s<" in html and ">32.000 s<" in html


def test_saturation_shows_in_red() -> None:
    html = self_check_section({"self_check": {"saturated": True, "message": "client CPU 97% > 85%"}}, None)
    assert '<p id="saturated" class="alert">SATURATED: client CPU 97% &gt; 85%</p>' in html
    calm = self_check_section({"self_check": {"saturated": False, "message": "client not saturated"}}, None)
    assert "SATURATED" not in calm and "client not saturated" in calm


def test_the_self_check_counts_its_untrusted_seconds() -> None:
    check = {
        "saturated": True,
        "message": "client saturated: latencies inflated (starved: ...); 30.0% of turns measured in untrusted seconds",
        "untrusted_seconds": [4, 5, 9],
        "untrusted_turn_share": 0.3,
    }
    html = self_check_section({"self_check": check}, None)
    assert '<p id="untrusted-seconds">3 untrusted seconds (the load generator was late' in html
    assert "holding 30.0% of the turns measured; hatched on the time charts.</p>" in html
    assert untrusted_seconds({"self_check": check}) == [4.0, 5.0, 9.0]
    one = self_check_section({"self_check": {**check, "untrusted_seconds": [7], "untrusted_turn_share": None}}, None)
    assert ">1 untrusted second (the load" in one and "over the threshold), with no turn;" in one
    older = self_check_section({"self_check": {"saturated": False, "message": "client not saturated"}}, None)
    assert "untrusted-seconds" not in older  # a summary from before the untrusted seconds
    assert untrusted_seconds(None) == [] and untrusted_seconds({"self_check": {"untrusted_seconds": "x"}}) == []


def test_target_not_monitored_is_said(bundle: Path) -> None:
    summary = json.loads((bundle / "summary.json").read_text())
    assert "The target was not monitored" in target_section(summary, None)
    assert "rss_per_session_kb" in target_section(summary, None)


def test_every_definition_is_listed() -> None:
    html = definitions_section()
    for name in (*LATENCY_METRICS, *COUNTERS):
        assert f"<td>{name}</td>" in html


def test_token_method_and_warnings() -> None:
    assert "protocol&#x27;s usage block" in tokens_section({"token_count_method": "usage", "counters": {}})
    assert "does not say" in tokens_section({})
    html = warnings_section(["3 values clamped", "<late>"])
    assert "<li>3 values clamped</li>" in html and "<li>&lt;late&gt;</li>" in html
    assert "No warnings." in warnings_section([])


def test_phase_not_reached(bundle: Path) -> None:
    summary_path = bundle / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["phases"]["steady"] = {"start": None, "end": None}
    summary["phases"]["stop"] = {"start": None, "end": None}
    summary_path.write_text(json.dumps(summary))
    html = phases_section(load_bundle(bundle))
    assert html.count(">not reached<") == 2
