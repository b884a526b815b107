"""`[trace]` and `--trace`/`--trace-speed`: parsed once, checked with one-line errors, and a trace
run's own defaults (every phase reported, a duration that only caps it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.config import RunConfig
from rtbench.errors import ConfigError
from rtbench.overrides import RunOverrides
from rtbench.scenario import TRACE_TAIL_S, load_scenario

ROWS = "".join(f'{{"timestamp_ms": {t}, "input_tokens": 3, "output_tokens": 2}}\n' for t in (1000, 5000))


def _scenario(tmp_path: Path, tables: str) -> Path:
    (tmp_path / "t.jsonl").write_text(ROWS)
    path = tmp_path / "s.toml"
    path.write_text(f'[target]\nurl = "ws://127.0.0.1:1/ws"\n{tables}')
    return path


def test_a_trace_beside_the_scenario_with_its_speed_and_defaults(tmp_path: Path) -> None:
    config = load_scenario(_scenario(tmp_path, '[trace]\nfile = "t.jsonl"\nspeed = 2\n'))
    assert config.trace.file == str(tmp_path / "t.jsonl") and config.trace.speed == 2.0
    assert config.load.include_ramp  # every row is in the figures
    assert config.load.duration == pytest.approx(4.0 / 2 + config.target.turn_timeout + TRACE_TAIL_S)
    assert RunConfig.from_dict(config.to_dict()).trace == config.trace  # travels to workers


def test_a_duration_given_caps_the_trace_and_options_override_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "u.jsonl").write_text(ROWS)
    path = _scenario(tmp_path, '[load]\nduration = "3s"\n[trace]\nfile = "t.jsonl"\n')
    config = load_scenario(path, RunOverrides(trace=str(tmp_path / "u.jsonl"), trace_speed=4.0))
    assert config.trace.file == str(tmp_path / "u.jsonl") and config.trace.speed == 4.0
    assert config.load.duration == 3.0


def test_no_trace_by_default() -> None:
    assert RunConfig().trace.file is None and not RunConfig().trace.enabled


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ('[trace]\nfile = "t.jsonl"\nspeed = 0\n', r"s\.toml:5: \[trace\]\.speed: expected a speed > 0"),
        ('[trace]\nfile = "t.jsonl"\nspeed = -1.5\n', r"s\.toml:5: \[trace\]\.speed: expected a speed > 0"),
        ('[trace]\nfile = "t.jsonl"\nrate = 2\n', r"s\.toml:5: \[trace\]\.rate: unknown key; known: file, speed"),
        ("[trace]\nspeed = 2\n", r"s\.toml:3: \[trace\]: needs file"),
        ('[trace]\nfile = "missing.jsonl"\n', r"missing\.jsonl:1: no such trace file"),
        (
            '[load]\narrival = "poisson"\nrate = 3\n[trace]\nfile = "t.jsonl"\n',
            r"cannot be combined with arrival, rate",
        ),
    ],
)
def test_bad_trace_settings_are_one_line_naming_file_and_line(tmp_path: Path, tables: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_scenario(_scenario(tmp_path, tables))
    assert "\n" not in str(info.value)


def test_bad_trace_options_name_the_option(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "")
    with pytest.raises(ConfigError, match=r"^--trace-speed: expected a speed > 0"):
        load_scenario(path, RunOverrides(trace=str(tmp_path / "t.jsonl"), trace_speed=0.0))
    with pytest.raises(ConfigError, match=r"^--trace-speed: needs a trace"):
        load_scenario(path, RunOverrides(trace_speed=2.0))
    (tmp_path / "bad.jsonl").write_text('{"timestamp_ms": -1, "input_tokens": 1, "output_tokens": 1}\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:1: timestamp_ms: a negative timestamp"):
        load_scenario(path, RunOverrides(trace=str(tmp_path / "bad.jsonl")))
