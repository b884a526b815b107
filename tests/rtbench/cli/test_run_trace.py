"""`rtbench run --trace FILE --trace-speed X`: documented options, and one-line errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rtbench.cli.main import app

runner = CliRunner()


def test_the_trace_options_have_help() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--trace" in result.output and "Mooncake" in result.output and "BurstGPT" in result.output
    assert "--trace-speed" in result.output and "half the time" in result.output


def test_a_bad_trace_or_speed_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"timestamp_ms": 0, "input_tokens": 2, "output_tokens": 2}\n{"timestamp_ms": 5}\n')
    for options, message in (
        (["--trace", str(bad)], f"{bad}:2: no input_tokens (or Mooncake's input_length)"),
        (["--trace", str(tmp_path / "none.jsonl")], f"{tmp_path / 'none.jsonl'}:1: no such trace file"),
        (["--trace", str(bad), "--trace-speed", "0"], "--trace-speed: expected a speed > 0"),
    ):
        result = runner.invoke(app, ["run", *options])
        assert result.exit_code == 3, result.output
        assert message in result.output and "Traceback" not in result.output
