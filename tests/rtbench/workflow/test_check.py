"""`check_bundle`, `gate` and `compare_bundles`: verdicts as data, nothing printed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rtbench.bundle.summary import write_summary
from rtbench.errors import ConfigError
from rtbench.slo.spec import parse_slo_table
from rtbench.workflow import check_bundle, compare_bundles, gate, write_check_outputs

KNOWN = json.loads((Path(__file__).resolve().parents[1] / "slo" / "data" / "known-summary.json").read_text())


def bundle(tmp_path: Path, name: str, ttft_factor: float = 1.0, **changes: Any) -> Path:
    summary = copy.deepcopy(KNOWN)
    for key in ("p50", "p95", "p99"):
        summary["metrics"]["ttft"][key] *= ttft_factor
    summary.update(changes)
    directory = tmp_path / name
    directory.mkdir()
    write_summary(directory / "summary.json", summary)
    return directory


def test_a_passing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = check_bundle(bundle(tmp_path, "run"))
    assert result.outcome.exit_code == 0 and result.outcome.passed
    assert result.verdict is not None and len(result.verdict.results) == 2 and result.comparisons is None
    assert capsys.readouterr() == ("", "")


def test_a_regression_against_a_baseline(tmp_path: Path) -> None:
    base, slow = bundle(tmp_path, "base"), bundle(tmp_path, "slow", ttft_factor=1.3)
    result = check_bundle(slow, baseline=base)
    assert result.outcome.exit_code == 2 and result.baseline == base
    assert result.comparisons is not None and sum(c.regressed for c in result.comparisons) == 3
    assert check_bundle(slow, baseline=base, max_regression=("ttft=40%",)).outcome.exit_code == 0


def test_comparability_warnings_are_returned(tmp_path: Path) -> None:
    other = copy.deepcopy(KNOWN["config"])
    other["users"] = KNOWN["config"]["users"] * 10
    base, current = bundle(tmp_path, "base"), bundle(tmp_path, "current", config=other)
    result = check_bundle(current, baseline=base)
    assert any("users" in line for line in result.comparability), result.comparability
    assert compare_bundles(base, current).comparability == result.comparability


def test_gate_on_a_given_spec_and_summary(tmp_path: Path) -> None:
    spec = parse_slo_table({"ttft": "p95 < 10ms"}, "inline")
    result = gate(tmp_path, copy.deepcopy(KNOWN), spec, None)
    assert result.outcome.exit_code == 1 and result.verdict is not None and not result.verdict.passed
    with pytest.raises(ConfigError, match="need --baseline"):
        gate(tmp_path, KNOWN, spec, None, max_regression=("10%",))


def test_nothing_to_check_is_an_error(tmp_path: Path) -> None:
    empty = copy.deepcopy(KNOWN["config"])
    empty["slo"] = {}
    with pytest.raises(ConfigError, match="nothing to check"):
        check_bundle(bundle(tmp_path, "run", config=empty))


def test_outputs_are_written_and_an_unwritable_one_is_one_line(tmp_path: Path) -> None:
    result = check_bundle(bundle(tmp_path, "run"))
    junit, markdown = tmp_path / "j.xml", tmp_path / "m.md"
    write_check_outputs(result, junit, markdown)
    assert "<testsuite" in junit.read_text() and "PASS" in markdown.read_text()
    with pytest.raises(ConfigError, match=r"^--junit .*: cannot write"):
        write_check_outputs(result, tmp_path / "missing" / "j.xml")
