"""The command line: one-line errors with exit code 2, help on every flag, flags over the TOML file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.server import REPO_ROOT, ServerHandle

from reference_server.cli import build_config, build_parser, main
from reference_server.config import DEFAULT_PERSONA
from reference_server.latency import Distribution


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_server", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_port_in_use_is_one_line_and_exit_2(reference_server: ServerHandle) -> None:
    result = run_cli("--host", "127.0.0.1", "--port", str(reference_server.port))
    assert result.returncode == 2
    assert result.stderr == f"error: port {reference_server.port} on 127.0.0.1 is already in use\n"


def test_port_in_use_with_procs(reference_server: ServerHandle) -> None:
    result = run_cli("--port", str(reference_server.port), "--procs", "2")
    assert result.returncode == 2 and result.stderr.strip().endswith("is already in use")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttft-ms", "soon"], "error: argument --ttft-ms: 'soon' is not a number"),
        (["--procs", "0"], "error: --procs must be >= 1"),
        (["--drop-rate", "2"], "error: --drop-rate must be within 0..1"),
        (["--drop-on-signal", "-0.1"], "error: --drop-on-signal must be within 0..1"),
        (["--config", "/nonexistent.toml"], "error: /nonexistent.toml: cannot read"),
        (["--persona", "x:warp=1"], "error: --persona x: unknown key 'warp'"),
        (["--host", "256.1.1.1", "--port", "9"], "error: cannot listen on 256.1.1.1:9"),
        (["--rate-limit", "fast"], "error: argument --rate-limit: 'fast' is not PROMPTS_PER_S[:BURST]"),
        (["--rate-limit", "-1"], "error: --rate-limit must be >= 0 prompts/s"),
        (["--max-sessions", "-1"], "error: --max-sessions must be >= 0"),
        (["--max-header-bytes", "10"], "error: --max-header-bytes must be >= 256"),
        (["--prefill-ms-per-1k", "-1"], "error: --prefill-ms-per-1k must be >= 0"),
        (["--prefix-cache", "maybe"], "error: argument --prefix-cache: invalid choice: 'maybe'"),
        (["--max-context-tokens", "0"], "error: --max-context-tokens must be >= 1"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors exit from inside main
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1


REQUIRED_FLAGS = (
    "--host",
    "--port",
    "--procs",
    "--ttft-ms",
    "--itl-ms",
    "--tokens",
    "--tokens-per-frame",
    "--seed",
    "--config",
    "--token",
    "--max-message-bytes",
    "--deflate",
    "--no-deflate",
    "--heartbeat-s",
    "--drop-rate",
    "--drop-after-s",
    "--stall-ms",
    "--stall-every-s",
    "--error-rate",
    "--resume-ttl-s",
    "--replay-buffer",
    "--slots",
    "--loop",
    "--persona",
    "--max-sessions",
    "--rate-limit",
    "--max-inflight",
    "--max-detached-sessions",
    "--max-replay-bytes",
    "--max-header-bytes",
    "--handshake-timeout-s",
    "--slow-reader-timeout-s",
    "--drop-on-signal",
    "--admin",
    "--no-admin",
    "--prefill-ms-per-1k",
    "--prefix-cache",
    "--max-context-tokens",
)


def test_every_flag_has_help() -> None:
    parser = build_parser()
    public = [a for a in parser._actions if a.help != "==SUPPRESS=="]
    assert set(REQUIRED_FLAGS) <= {flag for a in public for flag in a.option_strings}
    assert all(a.help for a in public)
    result = run_cli("--help")
    assert result.returncode == 0 and "--stall-every-s" in result.stdout and "lognormal:MEDIAN:P95" in result.stdout


def test_flags_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("port = 9000\nseed = 3\n[latency]\nttft_ms = 80\nitl_ms = 7\n[personas.fast]\nttft_ms = 5\n")
    cfg = build_config(
        build_parser().parse_args(["--config", str(config), "--port", "9001", "--itl-ms", "lognormal:5:9"])
    )
    profile = cfg.personas[DEFAULT_PERSONA].profile
    assert (cfg.port, cfg.seed) == (9001, 3)
    assert profile.ttft_ms == Distribution.fixed(80) and profile.itl_ms == Distribution("lognormal", 5, 9)
    assert cfg.personas["fast"].profile.itl_ms == Distribution.fixed(7)  # personas follow the file's [latency]


def test_storm_flags_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("admin = true\n[faults]\ndrop_on_signal = 0.5\ndrop_rate = 0.2\n")
    cfg = build_config(build_parser().parse_args(["--config", str(config), "--drop-on-signal", "0.1", "--no-admin"]))
    assert (cfg.faults.drop_on_signal, cfg.faults.drop_rate, cfg.admin) == (0.1, 0.2, False)
    assert build_config(build_parser().parse_args(["--config", str(config)])).admin is True


def test_prefill_flags_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("prefill_ms_per_1k = 100\nprefix_cache = 'off'\nmax_context_tokens = 900\n")
    cfg = build_config(build_parser().parse_args(["--config", str(config), "--prefix-cache", "on"]))
    assert (cfg.prefill_ms_per_1k, cfg.prefix_cache, cfg.max_context_tokens) == (100.0, "on", 900)
    flags = build_config(build_parser().parse_args(["--prefill-ms-per-1k", "2.5", "--max-context-tokens", "64"]))
    assert (flags.prefill_ms_per_1k, flags.prefix_cache, flags.max_context_tokens) == (2.5, "on", 64)


def test_limit_flags_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("[limits]\nmax_sessions = 10\nmax_inflight = 4\nrate_limit_burst = 9\n")
    limits = build_config(
        build_parser().parse_args(
            ["--config", str(config), "--max-sessions", "20", "--rate-limit", "5", "--slow-reader-timeout-s", "2.5"]
        )
    ).limits
    assert (limits.max_sessions, limits.max_inflight, limits.slow_reader_timeout_s) == (20, 4, 2.5)
    assert (limits.rate_limit_per_s, limits.burst) == (5.0, 5)  # the flag's rate brings its own burst
    burst = build_config(build_parser().parse_args(["--rate-limit", "0.5:4"])).limits
    assert (burst.rate_limit_per_s, burst.burst) == (0.5, 4)
