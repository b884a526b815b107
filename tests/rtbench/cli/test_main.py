"""The CLI's surface: help on every command, the version, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtbench import __version__
from rtbench.cli.main import app
from rtbench.local_server import free_port

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"rtbench {__version__}"


@pytest.mark.parametrize("command", [[], ["serve"], ["run"], ["demo"], ["check"], ["compare"], ["report"]])
def test_help_on_every_command(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "usage" in result.output.lower()


def test_bad_scenario_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[load]\nusers = -4\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 3
    assert "[load].users: expected a positive integer, got -4" in result.output
    assert "Traceback" not in result.output


def test_bad_option_is_one_line() -> None:
    result = runner.invoke(app, ["run", "--duration", "forever"])
    assert result.exit_code == 3
    assert "--duration: expected a duration" in result.output


def test_unreachable_target_is_one_line() -> None:
    port = free_port()
    result = runner.invoke(app, ["run", "--target", f"ws://127.0.0.1:{port}/ws"])
    assert result.exit_code == 3
    assert f"cannot reach target ws://127.0.0.1:{port}/ws: connection refused" in result.output
    assert "Traceback" not in result.output


def test_serve_takes_every_option_from_the_server() -> None:
    """`rtbench serve` declares no option of its own: the server's parser answers, fault flags included."""
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "usage: rtbench serve" in result.output
    assert "--drop-rate" in result.output and "--max-sessions" in result.output
    result = runner.invoke(app, ["serve", "--port", "99999"])
    assert result.exit_code == 2 and "--port must be within 0..65535" in result.output
