"""`rtbench compare A B`: the delta table of B against A; exit 2 only with --fail-on-regression."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rtbench.bundle.summary import write_summary
from rtbench.cli.compare import app

KNOWN = json.loads((Path(__file__).resolve().parents[1] / "slo" / "data" / "known-summary.json").read_text())
runner = CliRunner()


def bundle(tmp_path: Path, name: str, e2e_factor: float) -> Path:
    summary = copy.deepcopy(KNOWN)
    for key in ("p50", "p95", "p99"):
        summary["metrics"]["e2e"][key] *= e2e_factor
    directory = tmp_path / name
    directory.mkdir()
    write_summary(directory / "summary.json", summary)
    return directory


def compare(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_delta_table_and_exit_codes(tmp_path: Path) -> None:
    a, b = bundle(tmp_path, "a", 1.0), bundle(tmp_path, "b", 1.25)
    result = compare(a, b)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "e2e" in line and "p95" in line)
    assert all(cell in row for cell in ("244", "305", "+61", "+25.0%", "REGRESSION"))
    assert "3 regression(s), 0 improvement(s) in 15 checks" in result.output
    assert compare(a, b, "--fail-on-regression").exit_code == 2
    assert compare(a, b, "--fail-on-regression", "--max-regression", "30%").exit_code == 0
    assert compare(b, a, "--fail-on-regression").exit_code == 0  # A slower than B: improvements
    assert "improvement" in compare(b, a).output


def test_tolerances_from_an_slo_file(tmp_path: Path) -> None:
    a, b = bundle(tmp_path, "a", 1.0), bundle(tmp_path, "b", 1.25)
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo.regression]\ne2e = "50%"\n')
    assert compare(a, b, "--slo", slo, "--fail-on-regression").exit_code == 0


def test_missing_bundle_is_exit_3(tmp_path: Path) -> None:
    result = compare(tmp_path / "nope", tmp_path / "nope2")
    assert result.exit_code == 3 and "no result summary at" in result.output
