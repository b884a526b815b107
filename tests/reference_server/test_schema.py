"""The schema is written once: every setting is a flag and a TOML key, with one type and one range."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from reference_server.config import (
    FAULT_KEYS,
    LIMIT_KEYS,
    PROFILE_KEYS,
    TOP_KEYS,
    ConfigError,
    FaultConfig,
    LimitConfig,
    ServerConfig,
    load_toml,
)
from reference_server.flags import PROFILE_HELP, build_parser, config_from_flags, option_keys
from reference_server.latency import LatencyProfile
from reference_server.schema import Setting, flag_of, format_default, range_errors, settings

SECTIONS: dict[type, str | None] = {ServerConfig: None, FaultConfig: "faults", LimitConfig: "limits"}


def every_setting() -> list[tuple[type, Setting]]:
    return [(cls, s) for cls in SECTIONS for s in settings(cls)]


def other_value(s: Setting) -> Any:
    """A valid value that differs from the default."""
    if s.kind is bool:
        return not s.default
    if s.option.choices:
        return next(c for c in s.option.choices if c != s.default)
    if s.kind == tuple[float, float]:
        return (2.0, 3.0)
    if s.name == "host":
        return "127.0.0.2"
    if s.name == "token":
        return "s3cret"
    if s.name == "max_header_bytes":
        return 300
    if s.name in ("drop_rate", "error_rate", "drop_on_signal"):
        return 0.25
    if s.name == "stall_ms":
        return 5.0
    return 3 if s.kind is int else 7.5


def flag_args(s: Setting, value: Any) -> list[str]:
    if s.kind is bool:
        return [s.flag if value else "--no-" + s.flag[2:]]
    if isinstance(value, tuple):
        return [s.flag, ":".join(f"{v:g}" for v in value)]
    return [s.flag, str(value)]


def toml_line(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return f"[{value[0]}, {value[1]}]"
    return str(value)


def read(cfg: ServerConfig, cls: type, name: str) -> Any:
    section = SECTIONS[cls]
    return getattr(getattr(cfg, section) if section else cfg, name)


def test_the_tables_of_keys_are_the_fields() -> None:
    assert set(TOP_KEYS) == {s.name for s in settings(ServerConfig)}
    assert {f.name for f in dataclasses.fields(ServerConfig)} - set(TOP_KEYS) == {"personas", "faults", "limits"}
    assert set(FAULT_KEYS) == {f.name for f in dataclasses.fields(FaultConfig)}
    assert set(LIMIT_KEYS) == {f.name for f in dataclasses.fields(LimitConfig)}
    assert PROFILE_KEYS == set(PROFILE_HELP) == {f.name for f in dataclasses.fields(LatencyProfile)}


def test_every_setting_is_a_flag_unless_marked_otherwise() -> None:
    keys = set(option_keys())
    flagged = {s.name for _, s in every_setting() if s.option.flag}
    assert flagged <= keys
    assert {s.name for _, s in every_setting() if not s.option.flag} == {"rate_limit_per_s", "rate_limit_burst"}
    assert keys - flagged == {"config", "persona", "rate_limit", *PROFILE_HELP}


@pytest.mark.parametrize(("cls", "setting"), every_setting(), ids=lambda x: getattr(x, "name", ""))
def test_a_setting_reads_the_same_from_a_flag_and_from_the_file(cls: type, setting: Setting, tmp_path: Path) -> None:
    value = other_value(setting)
    section = SECTIONS[cls]
    file = tmp_path / "s.toml"
    file.write_text((f"[{section}]\n" if section else "") + f"{setting.name} = {toml_line(value)}\n")
    assert read(load_toml(file), cls, setting.name) == value
    if setting.option.flag:
        port = ["--port", "9"] if setting.name in ("procs",) else []
        assert read(config_from_flags([*port, *flag_args(setting, value)]), cls, setting.name) == value


def test_help_shows_each_default_from_the_dataclass() -> None:
    helps = {a.dest: a.help or "" for a in build_parser()._actions}
    for _, s in every_setting():
        if s.option.flag and s.default is not None:
            assert helps[s.name].endswith(f"(default {format_default(s.default)})"), s.name
    assert helps["ttft_ms"].endswith("(default 50)")


def test_the_declared_ranges_are_checked() -> None:
    assert range_errors(ServerConfig()) == range_errors(FaultConfig()) == range_errors(LimitConfig()) == []
    assert range_errors(FaultConfig(drop_rate=1.5, stall_ms=-1)) == [
        "--drop-rate must be within 0..1",
        "--stall-ms must be >= 0",
    ]
    assert range_errors(LimitConfig(rate_limit_per_s=-1)) == ["--rate-limit must be >= 0 prompts/s"]
    assert range_errors(ServerConfig(port=70000)) == ["--port must be within 0..65535"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--procs", "0"], "--procs must be >= 1"),
        (["--drop-after-s", "5:2"], "--drop-after-s needs 0 <= MIN <= MAX"),
        (["--stall-ms", "2000", "--stall-every-s", "1"], "--stall-ms must be shorter than --stall-every-s"),
        (["--warp", "9"], "unrecognized arguments: --warp 9"),
        (["--port", "x"], "argument --port: invalid int value: 'x'"),
    ],
)
def test_config_from_flags_raises_one_line_instead_of_exiting(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_flags(argv)
    assert str(caught.value) == message


def test_no_flags_is_the_default_config() -> None:
    assert config_from_flags([]) == ServerConfig()
    assert flag_of("heartbeat_s") == "--heartbeat-s"
