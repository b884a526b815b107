"""TOML loading and persona specs, with one-line errors naming file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_server.config import (
    DEFAULT_PERSONA,
    ConfigError,
    LimitConfig,
    ServerConfig,
    load_toml,
    parse_persona_spec,
)
from reference_server.latency import Distribution, LatencyProfile

FULL = """
port = 9100
procs = 2
seed = 7
deflate = true
heartbeat_s = 0
slots = 4
admin = true
prefill_ms_per_1k = 250
prefix_cache = "off"
max_context_tokens = 4000

[latency]
ttft_ms = 40
itl_ms = "lognormal:10:25"
tokens = { dist = "uniform", min = 10, max = 30 }
tokens_per_frame = 2
switch_ms = 5

[faults]
drop_rate = 0.1
drop_after_s = [2, 4]
error_rate = 0.05
drop_on_signal = 0.25

[limits]
max_sessions = 500
rate_limit_per_s = 2.5
max_inflight = 8
handshake_timeout_s = 3

[personas.fast]
ttft_ms = 10
switch_ms = 30

[personas.slow]
ttft_ms = { dist = "lognormal", median = 400, p95 = 900 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text)
    return path


def test_full_file(tmp_path: Path) -> None:
    cfg = load_toml(write(tmp_path, FULL))
    assert (cfg.port, cfg.procs, cfg.seed, cfg.deflate, cfg.heartbeat_s, cfg.slots) == (9100, 2, 7, True, 0.0, 4)
    default = cfg.personas[DEFAULT_PERSONA]
    assert default.profile == LatencyProfile(
        Distribution.fixed(40), Distribution("lognormal", 10, 25), Distribution("uniform", 10, 30), 2
    )
    assert default.switch_ms == 5
    fast = cfg.personas["fast"]
    assert fast.profile.ttft_ms == Distribution.fixed(10)  # its own TTFT ...
    assert fast.profile.itl_ms == default.profile.itl_ms  # ... the rest from [latency]
    assert fast.switch_ms == 30
    assert cfg.personas["slow"].profile.ttft_ms == Distribution("lognormal", 400, 900)
    assert cfg.faults.drop_rate == 0.1 and cfg.faults.drop_after_s == (2.0, 4.0) and cfg.faults.error_rate == 0.05
    assert cfg.faults.drop_on_signal == 0.25 and cfg.admin is True
    assert cfg.limits == LimitConfig(max_sessions=500, rate_limit_per_s=2.5, max_inflight=8, handshake_timeout_s=3.0)
    assert cfg.limits.burst == 3  # one second's worth, rounded up
    assert (cfg.prefill_ms_per_1k, cfg.prefix_cache, cfg.max_context_tokens) == (250.0, "off", 4000)


def test_empty_file_keeps_defaults(tmp_path: Path) -> None:
    assert load_toml(write(tmp_path, "")) == ServerConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("port = 'x'", "server.toml: port: expected int, got 'x'"),
        ("colour = 1", "server.toml: unknown key 'colour'"),
        ("[latency]\nttft_ms = 'soon'", "server.toml: latency.ttft_ms: 'soon' is not a number"),
        (
            "[latency]\nitl_ms = { dist = 'lognormal', median = 5 }",
            "latency.itl_ms: dist=lognormal takes exactly: median, p95",
        ),
        ("[latency]\ntokens_per_frame = 0", "latency.tokens_per_frame: expected an integer >= 1, got 0"),
        ("[faults]\ndrop_after_s = 3", "faults.drop_after_s: expected [MIN, MAX] seconds"),
        ("[personas.x]\nswitch_ms = -1", "personas.x.switch_ms: expected a number >= 0"),
        ("[personas.x]\nwarp = 9", "personas.x: unknown key 'warp'"),
        ("port = ", "server.toml: invalid TOML"),
        ("[limits]\nmax_sessions = 'many'", "limits.max_sessions: expected int, got 'many'"),
        ("[limits]\nmax_sesions = 1", "limits: unknown key 'max_sesions'"),
        ("limits = 3", "server.toml: limits: expected a table"),
        ("admin = 1", "server.toml: admin: expected bool, got 1"),
        ("[faults]\ndrop_on_signal = 'some'", "faults.drop_on_signal: expected int or float, got 'some'"),
        ("prefill_ms_per_1k = 'fast'", "server.toml: prefill_ms_per_1k: expected int or float, got 'fast'"),
        ("prefix_cache = false", "server.toml: prefix_cache: expected str, got False"),
        ("max_context_tokens = 1.5", "server.toml: max_context_tokens: expected int, got 1.5"),
    ],
)
def test_errors_are_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_toml(write(tmp_path, text))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.toml: cannot read"):
        load_toml(tmp_path / "nope.toml")


def test_persona_spec() -> None:
    base = LatencyProfile()
    persona = parse_persona_spec("fast:ttft_ms=20,itl_ms=lognormal:5:9,tokens_per_frame=3,switch_ms=30", base)
    assert persona.name == "fast" and persona.switch_ms == 30
    assert persona.profile == LatencyProfile(Distribution.fixed(20), Distribution("lognormal", 5, 9), base.tokens, 3)
    assert parse_persona_spec("plain", base).profile == base


@pytest.mark.parametrize("spec", [":ttft_ms=1", "x:ttft_ms", "x:ttft_ms=abc", "x:switch_ms=fast", "x:bogus=1"])
def test_bad_persona_spec(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_persona_spec(spec, LatencyProfile())


def test_the_documented_example_loads(tmp_path: Path) -> None:
    import reference_server.config as config_module

    doc = config_module.__doc__ or ""
    example = "\n".join(line[4:] for line in doc.splitlines() if line.startswith("    "))
    cfg = load_toml(write(tmp_path, example))
    assert cfg.procs == 2 and cfg.personas["fast"].switch_ms == 30
    assert (cfg.prefill_ms_per_1k, cfg.prefix_cache, cfg.max_context_tokens) == (0.0, "on", 32768)
    assert cfg.faults.drop_on_signal == 0.1 and cfg.admin is False
    assert cfg.personas[DEFAULT_PERSONA].profile.itl_ms == Distribution("lognormal", 10, 25)
