"""`plan_run`: the scenario read once, the options laid over it, the SLOs parsed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rtbench.workflow.plan
from rtbench.errors import ConfigError
from rtbench.overrides import RunOverrides
from rtbench.slo import sources
from rtbench.workflow import find_scenario, plan_run

SCENARIO = """
[scenario]
name = "p"
[load]
users = 2
[slo]
ttft = ["p95 < 100ms"]
e2e = ["p99 < 1s"]
"""


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources of every SLO table parsed."""
    calls: list[str] = []
    for module in (rtbench.workflow.plan, sources):
        original = module.parse_slo_table

        def counting(table: Any, source: str = "<slo>", *args: Any, original: Any = original, **kw: Any) -> Any:
            calls.append(source)
            return original(table, source, *args, **kw)

        monkeypatch.setattr(module, "parse_slo_table", counting)
    return calls


def test_the_scenarios_slos_are_parsed_once(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(SCENARIO)
    plan = plan_run(path, RunOverrides(users=5))
    assert parses == [str(path)]
    assert plan.config.load.users == 5 and plan.spec.rules
    assert dict(plan.config.turn_limits_ms) == {"ttft": 100.0, "e2e": 1000.0}


def test_an_slo_file_replaces_the_scenarios_slos(tmp_path: Path, parses: list[str]) -> None:
    path, slo = tmp_path / "p.toml", tmp_path / "slo.toml"
    path.write_text(SCENARIO)
    slo.write_text('[slo]\nttft = ["p95 < 50ms"]\n')
    plan = plan_run(path, None, slo)
    assert parses == [str(slo)]
    assert plan.config.slo == {"ttft": ["p95 < 50ms"]} and dict(plan.config.turn_limits_ms) == {"ttft": 50.0}


def test_slo_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(SCENARIO.replace("p99 < 1s", "p99 < soon"))
    with pytest.raises(ConfigError) as info:
        plan_run(path)
    assert str(info.value).startswith(f"{path}:8: e2e:") and "\n" not in str(info.value)
    (tmp_path / "bad.toml").write_text("[other]\n")
    with pytest.raises(ConfigError, match=r"bad.toml: expected an \[slo\] table"):
        plan_run(_good(tmp_path), None, tmp_path / "bad.toml")


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.toml"
    path.write_text(SCENARIO)
    return path


def test_the_default_scenario_is_found() -> None:
    assert find_scenario(None).name == "chat.toml" and find_scenario(Path("x.toml")) == Path("x.toml")
    assert plan_run(None).config.scenario == "chat"
