"""`rtbench check`: exit codes 0/1/2/3, tables, JUnit XML and Markdown, on bundles in tmp_path."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rtbench.bundle.summary import write_summary
from rtbench.cli.check import app

KNOWN = json.loads((Path(__file__).resolve().parents[1] / "slo" / "data" / "known-summary.json").read_text())
runner = CliRunner()


def bundle(tmp_path: Path, name: str, ttft_factor: float = 1.0, **changes: Any) -> Path:
    """A bundle dir holding the known summary (SLOs: ttft p95 < 100ms, delivery >= 99.9%)."""
    summary = copy.deepcopy(KNOWN)
    for key in ("p50", "p95", "p99"):
        summary["metrics"]["ttft"][key] *= ttft_factor
    summary.update(changes)
    directory = tmp_path / name
    directory.mkdir()
    write_summary(directory / "summary.json", summary)
    return directory


def check(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_passing_run_exits_0_with_its_stored_slos(tmp_path: Path) -> None:
    result = check(bundle(tmp_path, "run"))
    assert result.exit_code == 0, result.output
    assert "ttft p95" in result.output and "54 ms" in result.output
    assert "PASS: all 2 SLO rules met" in result.output


def test_breached_slo_exits_1(tmp_path: Path) -> None:
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\nttft = "p95 < 50ms"\nrecovery = "max < 5s"\n')
    result = check(bundle(tmp_path, "run"), "--slo", slo)
    assert result.exit_code == 1
    assert "FAIL: 2 of 2 SLO rules breached" in result.output
    assert "no data" in result.output


def test_regression_exits_2_and_breach_wins(tmp_path: Path) -> None:
    base = bundle(tmp_path, "base")
    slow = bundle(tmp_path, "slow", ttft_factor=1.3)
    result = check(slow, "--baseline", base)
    assert result.exit_code == 2, result.output
    assert "REGRESSION: all 2 SLO rules met; 3 regressions in 15 checks" in result.output
    assert check(slow, "--baseline", base, "--max-regression", "ttft=40%").exit_code == 0
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\nttft = "p95 < 60ms"\n')
    assert check(slow, "--baseline", base, "--slo", slo).exit_code == 1


def test_regression_table_in_the_slo_file(tmp_path: Path) -> None:
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\nttft = "p95 < 100ms"\n[slo.regression]\nttft = "off"\n')
    base, slow = bundle(tmp_path, "base"), bundle(tmp_path, "slow", ttft_factor=1.3)
    assert check(slow, "--baseline", base, "--slo", slo).exit_code == 0


def test_partial_bundle_exits_3(tmp_path: Path) -> None:
    result = check(bundle(tmp_path, "run", partial=True, partial_reason="interrupted"))
    assert result.exit_code == 3
    assert "INVALID: partial bundle: interrupted" in result.output


def test_saturated_client_warns_or_fails_with_strict(tmp_path: Path) -> None:
    self_check = {**KNOWN["self_check"], "saturated": True, "message": "client CPU 97%"}
    run = bundle(tmp_path, "run", self_check=self_check)
    relaxed = check(run)
    assert relaxed.exit_code == 0 and "warning: load generator saturated: client CPU 97%" in relaxed.output
    assert check(run, "--strict").exit_code == 3


@pytest.mark.parametrize(
    ("slo_text", "message"),
    [
        ('[slo]\nttft = "p95 < fast"\n', 'slo.toml:2: ttft: "p95 < fast": expected a duration such as 100ms'),
        ("[slo\n", "slo.toml: invalid TOML"),
    ],
)
def test_bad_slo_file_is_one_line_exit_3(tmp_path: Path, slo_text: str, message: str) -> None:
    slo = tmp_path / "slo.toml"
    slo.write_text(slo_text)
    result = check(bundle(tmp_path, "run"), "--slo", slo)
    assert result.exit_code == 3
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_invalid_inputs_exit_3(tmp_path: Path) -> None:
    assert "no result summary at" in check(tmp_path / "missing").output
    run = bundle(tmp_path, "run", config={**KNOWN["config"], "slo": {}})
    nothing = check(run)
    assert nothing.exit_code == 3 and "nothing to check" in nothing.output
    assert check(run, "--max-regression", "5%").exit_code == 3
    bad = check(bundle(tmp_path, "run2"), "--baseline", run, "--max-regression", "fast")
    assert bad.exit_code == 3 and "--max-regression: 'fast': expected" in bad.output


def test_junit_and_markdown_files(tmp_path: Path) -> None:
    base, slow = bundle(tmp_path, "base"), bundle(tmp_path, "slow", ttft_factor=1.3)
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\nttft = ["p95 < 100ms", "p99 < 60ms"]\ndelivery = ">= 99.9%"\n')
    junit, markdown = tmp_path / "junit.xml", tmp_path / "summary.md"
    result = check(slow, "--slo", slo, "--baseline", base, "--junit", junit, "--markdown", markdown)
    assert result.exit_code == 1
    root = ET.parse(junit).getroot()
    slo_suite = root.find("testsuite[@name='rtbench.slo']")
    regression_suite = root.find("testsuite[@name='rtbench.regression']")
    assert slo_suite is not None and regression_suite is not None
    assert (slo_suite.get("tests"), slo_suite.get("failures")) == ("3", "1")
    assert (regression_suite.get("tests"), regression_suite.get("failures")) == ("15", "3")
    text = markdown.read_text()
    assert text.startswith("## ❌ rtbench check: FAIL: 1 of 3 SLO rules breached; 3 regressions in 15 checks")
    assert "| ttft | p95 | 54 | 70.2 | +16.2 | +30.0% | REGRESSION |" in text


def test_unwritable_report_file_is_exit_3(tmp_path: Path) -> None:
    result = check(bundle(tmp_path, "run"), "--junit", tmp_path / "no" / "such" / "dir.xml")
    assert result.exit_code == 3 and "--junit" in result.output and "cannot write" in result.output
