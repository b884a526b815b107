"""SLO specs from an --slo file and from a bundle's stored scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rtbench.errors import ConfigError
from rtbench.slo.sources import load_slo_file, spec_from_scenario_table, spec_from_summary
from rtbench.slo.spec import turn_limits

SEED = Path(__file__).resolve().parents[3] / "scenarios" / "slo-seed.toml"


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "slo.toml"
    path.write_text('[slo]\nttft = "p95 < 100ms"\n')
    spec = load_slo_file(path)
    assert [r.label for r in spec.rules] == ["ttft p95"] and spec.source == str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such SLO file"),
        ("[slo\n", "invalid TOML"),
        ("[load]\nusers = 1\n", "expected an [slo] table"),
        ('\n[slo]\nttft = "p95 < x"\n', ':3: ttft: "p95 < x": expected a duration such as 100ms'),
    ],
)
def test_file_errors_are_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "slo.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_slo_file(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_stored_table_of_a_bundle(summary: dict[str, Any]) -> None:
    spec = spec_from_summary(summary, "reports/run")
    assert [r.label for r in spec.rules] == ["ttft p95", "delivery"]
    assert spec.source == "reports/run (summary.json config.slo)"
    summary["config"]["slo"] = {"ttft": "p95 < soon"}
    with pytest.raises(ConfigError, match=r"^reports/run \(summary.json config.slo\): ttft: "):
        spec_from_summary(summary, "reports/run")
    del summary["config"]
    assert spec_from_summary(summary, "reports/run").rules == ()


def test_stored_table_errors_point_at_the_scenario_when_unchanged(summary: dict[str, Any], tmp_path: Path) -> None:
    scenario = tmp_path / "chat.toml"
    scenario.write_text('[scenario]\nname = "chat"\n\n[slo]\nttft = "p95 < soon"\n')
    summary["config"].update(slo={"ttft": "p95 < soon"}, source_file=str(scenario))
    with pytest.raises(ConfigError, match=rf"^{scenario}:5: ttft: "):
        spec_from_summary(summary, "reports/run")
    scenario.write_text('[slo]\nttft = "p95 < 1ms"\n')  # edited since the run: not the same table
    with pytest.raises(ConfigError, match=r"^reports/run \(summary.json"):
        spec_from_summary(summary, "reports/run")


def test_seed_file_holds_every_slo_of_the_spec(summary: dict[str, Any]) -> None:
    spec = load_slo_file(SEED)
    got = {r.label: (r.operator, str(r.threshold)) for r in spec.rules}
    assert got == {
        "ttft p95": ("<", "100 ms"),
        "connect p95": ("<", "50 ms"),
        "itl p95": ("<", "50 ms"),
        "delivery": (">=", "99.9%"),
        "success": (">=", "99.95%"),
        "connect_success": (">=", "99.5%"),
        "sessions_peak": (">=", "10,000"),
        "recovery max": ("<", "5 s"),
        "uptime": (">=", "99.5%"),
        "continuity": (">=", "99%"),
        "server_rss_per_session": ("<", "10 MB"),
        "server_cpu": ("<", "60%"),
        "bandwidth_saving": (">=", "80%"),
        "connection_reuse": (">=", "90%"),
    }
    assert all(o.note for o in spec.objectives)
    assert "time to first token" in spec.note_for("ttft")
    assert turn_limits(spec) == {"ttft": 100.0}


def test_scenario_table_for_the_run_command(tmp_path: Path) -> None:
    scenario = tmp_path / "chat.toml"
    scenario.write_text('[slo]\n\nttft = "p95 < 1 week"\n')
    with pytest.raises(ConfigError, match=rf"^{scenario}:3: ttft: "):
        spec_from_scenario_table({"ttft": "p95 < 1 week"}, str(scenario))
    with pytest.raises(ConfigError, match=r"^<scenario>: ttft: "):
        spec_from_scenario_table({"ttft": "p95 < 1 week"}, None)
    spec = spec_from_scenario_table({"e2e": ["p99 < 2s", "p95 < 1s"]}, str(tmp_path / "gone.toml"))
    assert turn_limits(spec) == {"e2e": 1000.0}
