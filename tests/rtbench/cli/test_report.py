"""`rtbench report`: writes report.html into the bundle and prints its path; one-line errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from typer.testing import CliRunner

from rtbench.cli.report import app

runner = CliRunner()
BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "report_render.py"


def _write_bundle(directory: Path) -> Path:
    spec = importlib.util.spec_from_file_location("rtbench_report_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    shape = module.Shape(seconds=12, sessions=20, turns_per_s=5, tokens_per_turn=4, ramp_s=3, stop_s=2)
    module.synthesise_bundle(directory, shape, slo={"ttft": "p95 < 1s"})
    return directory


def test_report_writes_html_and_prints_its_path(tmp_path: Path) -> None:
    bundle = _write_bundle(tmp_path / "run")
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\nitl = "p99 < 1ms"\n')
    result = runner.invoke(app, [str(bundle), "--baseline", str(bundle), "--slo", str(slo)])
    assert result.exit_code == 0, result.output
    report = bundle / "report.html"
    assert result.output.strip() == str(report)
    html = report.read_text(encoding="utf-8")
    assert "itl p99" in html and 'id="delta-table"' in html
    assert (bundle / "report" / "baseline_percentiles.png").is_file()


def test_bad_path_is_one_line_exit_3(tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path / "missing")])
    assert result.exit_code == 3
    assert result.output == f"error: no result bundle at {tmp_path / 'missing'}: not a directory\n"


def test_bad_slo_file_is_one_line_exit_3(tmp_path: Path) -> None:
    bundle = _write_bundle(tmp_path / "run")
    result = runner.invoke(app, [str(bundle), "--slo", str(tmp_path / "nope.toml")])
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and "no such SLO file" in result.output


def test_a_killed_bundle_is_reported_as_partial(tmp_path: Path) -> None:
    bundle = _write_bundle(tmp_path / "run")
    (bundle / "summary.json").unlink()
    result = runner.invoke(app, [str(bundle)])
    assert result.exit_code == 0, result.output
    assert "partial: no summary.json (the run was killed)" in result.output
    assert result.output.strip().splitlines()[-1] == str(bundle / "report.html")
    assert "PARTIAL RUN: killed, no summary.json." in (bundle / "report.html").read_text(encoding="utf-8")
