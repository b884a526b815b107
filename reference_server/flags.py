"""The server's flags: one per setting of the config dataclasses (reference_server.schema), the
configuration they give, and its validation. No process, socket or app is touched here."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from typing import Any, NoReturn

from reference_server.config import (
    DEFAULT_PERSONA,
    ConfigError,
    FaultConfig,
    LimitConfig,
    ServerConfig,
    load_toml,
    parse_persona_spec,
)
from reference_server.latency import Distribution, LatencyProfile, Persona, parse_distribution
from reference_server.schema import add_flags, flag_of, format_default, range_errors, settings

__all__ = ["DESCRIPTION", "PROFILE_HELP", "build_config", "build_parser", "config_from_flags", "option_keys"]

DESCRIPTION = """\
The rtbench reference streaming server: a realtime AI endpoint with a latency model you set.
One port serves the native JSON chat protocol (/ws), OpenAI-compatible SSE
(/v1/chat/completions, /v1/completions), a Realtime-style WebSocket (/v1/realtime), /healthz and
/metrics. See reference_server/PROTOCOL.md.

Latency values take a number (fixed), lognormal:MEDIAN:P95 or uniform:MIN:MAX.
Precedence: defaults < --config FILE.toml < flags."""


class _Parser(argparse.ArgumentParser):
    raise_errors = False

    def error(self, message: str) -> NoReturn:
        if self.raise_errors:
            raise ConfigError(message)
        self.exit(2, f"error: {message} (see --help)\n")


def _distribution(text: str) -> Distribution:
    try:
        return parse_distribution(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> tuple[float, int]:
    rate, sep, burst = text.partition(":")
    try:
        return float(rate), int(burst) if sep else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not PROMPTS_PER_S[:BURST]") from None


#: The latency model's flags, one per `LatencyProfile` field: field -> (metavar, help).
PROFILE_HELP = {
    "ttft_ms": ("DIST", "time to first token, ms"),
    "itl_ms": ("DIST", "inter-token latency, ms"),
    "tokens": ("DIST", "tokens per response"),
    "tokens_per_frame": ("K", "tokens coalesced into one frame"),
}
_GROUP_TITLES = {
    "listening": "listening",
    "latency": "latency model (the 'default' persona)",
    "faults": "sessions and faults",
    "limits": "limits (each refusal is counted in rtref_rejected_total{reason}; see PROTOCOL.md)",
}


def build_parser(exit_on_error: bool = True, prog: str = "python -m reference_server") -> argparse.ArgumentParser:
    """The flags: one per setting of the config dataclasses (reference_server.schema), plus
    --config, --persona and --rate-limit. With `exit_on_error=False`, a bad flag raises ConfigError."""
    p = _Parser(prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.raise_errors = not exit_on_error
    p.add_argument(
        "--config", metavar="FILE.toml", help="TOML file with server settings, [latency], [faults], [personas.NAME]"
    )
    groups = {key: p.add_argument_group(title) for key, title in _GROUP_TITLES.items()}
    defaults = LatencyProfile()
    for name in (f.name for f in dataclasses.fields(LatencyProfile)):
        metavar, text = PROFILE_HELP[name]
        kind = int if isinstance(getattr(defaults, name), int) else _distribution
        shown = format_default(getattr(defaults, name))
        groups["latency"].add_argument(flag_of(name), type=kind, metavar=metavar, help=f"{text} (default {shown})")
    for cls in (ServerConfig, FaultConfig, LimitConfig):
        add_flags(groups, cls)
    groups["latency"].add_argument(
        "--persona",
        action="append",
        default=[],
        metavar="SPEC",
        help="extra persona NAME:ttft_ms=D,itl_ms=D,tokens=D,tokens_per_frame=K,switch_ms=MS "
        "(repeatable; unset keys follow the default persona)",
    )
    groups["limits"].add_argument(
        "--rate-limit",
        type=_rate,
        metavar="PROMPTS_PER_S[:BURST]",
        help="token bucket per session (per Authorization value or connection for HTTP): a prompt over "
        "it gets a rate_limited error (HTTP 429 with Retry-After); BURST defaults to one second's "
        "worth; 0 = unlimited (default 0)",
    )
    p.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    return p


def option_keys() -> tuple[str, ...]:
    """The public flags as keys (`--ttft-ms` -> "ttft_ms"): what a scenario's `[server]` table may set."""
    public = (a for a in build_parser()._actions if a.help != argparse.SUPPRESS and a.dest != "help")
    return tuple(a.dest for a in public if a.option_strings)


def config_from_flags(argv: Sequence[str]) -> ServerConfig:
    """The configuration `python -m reference_server ARGV` would run with; ConfigError (one line) if invalid."""
    return build_config(build_parser(exit_on_error=False).parse_args(list(argv)))


def _given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The flags of `cls`'s settings that were given on the command line."""
    return {s.name: getattr(args, s.name) for s in settings(cls) if s.option.flag and getattr(args, s.name) is not None}


def build_config(args: argparse.Namespace) -> ServerConfig:
    """Defaults, then the TOML file, then the flags that were given; ConfigError when invalid."""
    cfg = load_toml(args.config) if args.config else ServerConfig()
    changes = _given(args, ServerConfig)
    changes["token"] = args.token or os.environ.get("RTREF_TOKEN") or cfg.token
    default = cfg.personas[DEFAULT_PERSONA]
    profile = dataclasses.replace(
        default.profile, **{k: getattr(args, k) for k in PROFILE_HELP if getattr(args, k) is not None}
    )
    personas = {**cfg.personas, DEFAULT_PERSONA: Persona(DEFAULT_PERSONA, profile, default.switch_ms)}
    for spec in args.persona:
        persona = parse_persona_spec(spec, profile)
        personas[persona.name] = persona
    changes["personas"] = personas
    changes["faults"] = dataclasses.replace(cfg.faults, **_given(args, FaultConfig))
    limits = _given(args, LimitConfig)
    if args.rate_limit is not None:
        limits["rate_limit_per_s"], limits["rate_limit_burst"] = args.rate_limit
    changes["limits"] = dataclasses.replace(cfg.limits, **limits)
    cfg = cfg.replace(**changes)
    _validate(cfg)
    return cfg


def _validate(cfg: ServerConfig) -> None:
    """The range checks declared on the settings, then the checks that span several of them."""
    faults = cfg.faults
    checks = [
        *((False, error) for error in (*range_errors(cfg), *range_errors(faults), *range_errors(cfg.limits))),
        (cfg.procs == 1 or cfg.port != 0, "--port 0 needs --procs 1"),
        (0 <= faults.drop_after_s[0] <= faults.drop_after_s[1], "--drop-after-s needs 0 <= MIN <= MAX"),
        (
            faults.stall_every_s == 0 or faults.stall_ms < faults.stall_every_s * 1000,
            "--stall-ms must be shorter than --stall-every-s",
        ),
        (all(p.profile.tokens_per_frame >= 1 for p in cfg.personas.values()), "--tokens-per-frame must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
