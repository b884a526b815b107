"""A real run's summary.json against the summary rebuilt from the same bundle's interval logs:
the one builder gives the same figures wherever the logs carry them."""

from __future__ import annotations

import math
import shutil

import pytest
from support.runs import run_scenario, scenario_text

from rtbench.bundle.summary import read_summary
from rtbench.bundle.summary_types import Summary
from rtbench.local_server import LocalServer
from rtbench.report.frames import load_bundle
from rtbench.report.rebuild import KILLED, REBUILT_FROM, rebuild_summary

#: TTFT 20 ms, ITL 5 ms, 10 tokens; a third of the connections dropped after 1 to 2 s, resumable.
SERVER_FLAGS = ("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "10", "--drop-rate", "0.3", "--drop-after-s", "1:2")
LIMITS = '[slo]\nttft = ["p95 < 500ms"]\ne2e = ["p99 < 2s"]\n'

#: Keys the interval logs and time series carry: they must be equal.
EQUAL_KEYS = (
    "schema_version",
    "rtbench_version",
    "scenario",
    "started_at",
    "include_ramp",
    "metrics",
    "whole_run_metrics",
    "metrics_by_phase",
    "metrics_by_turn",
    "metrics_by_input_tokens",
    "sessions",
    "config",
    "versions",
    "events",
    "pid",
)
#: Keys only the end of a run knows: failures by kind, clamped counts, how tokens were counted,
#: turns within the per-turn limits, conversation and wire counters (none is in timeseries.csv or
#: the .hlog files).
LIVE_ONLY_KEYS = {"clamped", "token_count_method", "goodput", "conversation", "wire"}


@pytest.fixture(scope="module")
def live_and_rebuilt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Summary, Summary]:
    tmp = tmp_path_factory.mktemp("live")
    with LocalServer(SERVER_FLAGS) as server:
        body = scenario_text(server.ws_url, users=4, duration="3s", think_time="0.1s", tables=LIMITS)
        result, _ = run_scenario(tmp, body, "--target-pid", str(server.pid))
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = tmp / "bundle"
    live = read_summary(bundle)
    killed = tmp_path_factory.mktemp("killed") / "bundle"
    shutil.copytree(bundle, killed)
    (killed / "summary.json").unlink()  # what a kill -9 before the summary leaves
    return live, rebuild_summary(load_bundle(killed))


def test_the_run_exercised_every_section(live_and_rebuilt: tuple[Summary, Summary]) -> None:
    live, _ = live_and_rebuilt
    assert live["metrics"]["ttft"]["count"] > 20
    assert live["delivery"]["turns_completed"] > 20
    recovery = live["delivery"].get("recovery")
    assert recovery is not None and recovery["resumed"] > 0, live["delivery"]
    assert str(live["target"]["source"]).startswith("pid") and live["target"]["rss_mb_idle"] is not None
    assert live["goodput"]["turns_good"]


def test_rebuilt_summary_equals_the_live_one_where_the_logs_carry_it(
    live_and_rebuilt: tuple[Summary, Summary],
) -> None:
    live, rebuilt = live_and_rebuilt
    for key in EQUAL_KEYS:
        assert rebuilt[key] == live[key], key  # type: ignore[literal-required]
    assert rebuilt["self_check"] == {**live["self_check"], "client_rss_per_session_kb": None}
    # the target's idle RSS is sampled before the first second, and what monitored it is in no file
    assert rebuilt["target"] == {**live["target"], "source": None, "rss_mb_idle": None, "rss_per_session_kb": None}
    assert rebuilt["counters"] == {k: live["counters"].get(k, 0) for k in ("turns_sent", "turns_completed", "tokens")}
    delivery = live["delivery"]
    assert rebuilt["delivery"] == {
        "turns_sent": delivery["turns_sent"],
        "turns_completed": delivery["turns_completed"],
        "turns_failed": sum(delivery.get("failed", {}).values()),  # the time series sums the kinds
        "delivery_ratio": delivery["delivery_ratio"],
    }
    # the time series counts turns and output tokens per second, and its phases own the same whole
    # seconds: the rates it knows are the live ones; input tokens and goodput only the end knows
    unknown = ("input_tokens_per_s", "input_tokens_per_s_per_user", "goodput_per_s")
    assert rebuilt["throughput"] == {
        **live["throughput"],
        **dict.fromkeys(unknown),
        "input_token_method": "none",
        "output_token_method": "none",
    }
    assert live["metrics_by_input_tokens"] and live["throughput"]["input_token_method"] == "usage"
    assert LIVE_ONLY_KEYS <= set(live) and not LIVE_ONLY_KEYS & set(rebuilt)
    assert set(live) - set(rebuilt) == LIVE_ONLY_KEYS


def test_what_differs_and_why(live_and_rebuilt: tuple[Summary, Summary]) -> None:
    live, rebuilt = live_and_rebuilt
    assert live["partial"] is False and rebuilt["partial"] is True and rebuilt["partial_reason"] == KILLED
    # phase times: exact in the live run, whole seconds (as the time series assigned them) rebuilt
    for name in ("ramp", "steady", "stop"):
        span, exact = rebuilt["phases"][name], live["phases"][name]  # type: ignore[literal-required]
        for end in ("start", "end"):
            value = span[end]
            assert value is not None and exact[end] is not None
            assert value == math.floor(value) or value == live["started_at"]
            if (name, end) == ("stop", "end"):  # the end of the last second with data, not the run's end
                assert value <= exact[end] + 1.0, (value, exact[end])
            else:  # a boundary falls inside the second the time series gave to the ramp or stop side
                assert abs(value - exact[end]) <= 1.0 + 1e-6, (name, end, value, exact[end])
    assert rebuilt["ended_at"] is not None and live["ended_at"] is not None
    assert rebuilt["ended_at"] == math.floor(rebuilt["ended_at"]) and rebuilt["ended_at"] <= live["ended_at"] + 1.0
    missing = f"summary.json is missing: these figures were rebuilt from {REBUILT_FROM}"
    saturation = [live["self_check"]["message"]] if live["self_check"]["saturated"] else []
    assert rebuilt["warnings"] == [missing, *saturation]


def test_recovery_is_reported_over_the_whole_run_when_rebuilt(live_and_rebuilt: tuple[Summary, Summary]) -> None:
    """recovery is a whole-run metric (like connect) in a rebuilt summary too, not steady only."""
    live, rebuilt = live_and_rebuilt
    by_phase = [rebuilt["metrics_by_phase"][p].get("recovery") for p in ("ramp", "steady", "stop")]
    total = sum(figures["count"] for figures in by_phase if figures is not None)
    assert total > 0 and rebuilt["metrics"]["recovery"]["count"] == total == live["metrics"]["recovery"]["count"]
    assert rebuilt["whole_run_metrics"] == ["connect", "recovery"]
