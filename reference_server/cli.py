"""Command line: `python -m reference_server [flags]` (also `rtbench serve`, through `main`)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from typing import Any, NoReturn

from reference_server.config import DEFAULT_PERSONA, ConfigError, ServerConfig, load_toml, parse_persona_spec
from reference_server.latency import Distribution, Persona, parse_distribution
from reference_server.listen import StartupError, ensure_port_free

__all__ = ["build_config", "build_parser", "main"]

DESCRIPTION = """\
The rtbench reference streaming server: a realtime AI endpoint with a latency model you set.
One port serves the native JSON chat protocol (/ws), OpenAI-compatible SSE
(/v1/chat/completions, /v1/completions), a Realtime-style WebSocket (/v1/realtime), /healthz and
/metrics. See reference_server/PROTOCOL.md.

Latency values take a number (fixed), lognormal:MEDIAN:P95 or uniform:MIN:MAX.
Precedence: defaults < --config FILE.toml < flags."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _distribution(text: str) -> Distribution:
    try:
        return parse_distribution(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    try:
        return (float(low), float(high)) if sep else (float(low), float(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN:MAX seconds") from None


def _rate(text: str) -> tuple[float, int]:
    rate, sep, burst = text.partition(":")
    try:
        return float(rate), int(burst) if sep else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not PROMPTS_PER_S[:BURST]") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m reference_server", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = p.add_argument
    add("--config", metavar="FILE.toml", help="TOML file with server settings, [latency], [faults], [personas.NAME]")
    g = p.add_argument_group("listening")
    g.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    g.add_argument("--port", type=int, help="TCP port (default 8765)")
    g.add_argument(
        "--procs", type=int, metavar="N", help="server processes sharing the port via SO_REUSEPORT (default 1)"
    )
    g.add_argument(
        "--loop", choices=("auto", "uvloop", "asyncio"), help="event loop: auto = uvloop when importable (default auto)"
    )
    g.add_argument(
        "--token",
        metavar="SECRET",
        help="require 'Authorization: Bearer SECRET' (or set RTREF_TOKEN); /healthz and /metrics stay open",
    )
    g.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="offer permessage-deflate on WebSockets (default off)",
    )
    g.add_argument(
        "--heartbeat-s", type=float, metavar="S", help="WebSocket ping interval in seconds; 0 = off (default 20)"
    )
    m = p.add_argument_group("latency model (the 'default' persona)")
    m.add_argument("--ttft-ms", type=_distribution, metavar="DIST", help="time to first token, ms (default 50)")
    m.add_argument("--itl-ms", type=_distribution, metavar="DIST", help="inter-token latency, ms (default 10)")
    m.add_argument("--tokens", type=_distribution, metavar="DIST", help="tokens per response (default 20)")
    m.add_argument("--tokens-per-frame", type=int, metavar="K", help="tokens coalesced into one frame (default 1)")
    m.add_argument("--seed", type=int, metavar="S", help="seed of every random draw (default 0)")
    m.add_argument(
        "--persona",
        action="append",
        default=[],
        metavar="SPEC",
        help="extra persona NAME:ttft_ms=D,itl_ms=D,tokens=D,tokens_per_frame=K,switch_ms=MS "
        "(repeatable; unset keys follow the default persona)",
    )
    m.add_argument(
        "--slots",
        type=int,
        metavar="N",
        help="generation slots per process, 0 = unlimited (default 0); a turn waits for a free slot "
        "before its TTFT clock starts, so client-side TTFT includes the queueing",
    )
    f = p.add_argument_group("sessions and faults")
    f.add_argument(
        "--resume-ttl-s", type=float, metavar="S", help="how long a dropped session stays resumable (default 60)"
    )
    f.add_argument("--replay-buffer", type=int, metavar="N", help="replayable frames kept per session (default 4096)")
    f.add_argument("--drop-rate", type=float, metavar="F", help="fraction of connections dropped abruptly (default 0)")
    f.add_argument(
        "--drop-after-s",
        type=_range,
        metavar="MIN:MAX",
        help="a dropped connection goes after a uniform MIN..MAX seconds (default 1:10)",
    )
    f.add_argument("--stall-ms", type=float, metavar="M", help="stall all sending for M ms ... (default 0)")
    f.add_argument("--stall-every-s", type=float, metavar="N", help="... every N seconds (default 0 = never)")
    f.add_argument(
        "--error-rate",
        type=float,
        metavar="F",
        help="fraction of turns that fail with an 'injected' error instead of finishing (default 0)",
    )
    f.add_argument(
        "--drop-on-signal",
        type=float,
        metavar="F",
        help="reconnect storm: on SIGUSR1 every server process (--procs: the supervisor forwards it) "
        "aborts a random fraction F of its open WebSockets (/ws, /v1/realtime) at once, as "
        "--drop-rate does; 0 = SIGUSR1 is logged and ignored (default 0)",
    )
    f.add_argument(
        "--admin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve POST /admin/drop?fraction=F (the same storm, in the process that answers) to "
        "loopback peers only (default off)",
    )
    lim = p.add_argument_group("limits (each refusal is counted in rtref_rejected_total{reason}; see PROTOCOL.md)")
    lim.add_argument(
        "--max-message-bytes",
        type=int,
        metavar="N",
        help="largest client message or HTTP body accepted; larger WebSocket messages close with 1009, "
        "larger bodies get 413 (default 65536)",
    )
    lim.add_argument(
        "--max-sessions",
        type=int,
        metavar="N",
        help="open sessions per process (WebSockets plus HTTP completions in flight) before new ones "
        "get 503 max_sessions with Retry-After; 0 = unlimited (default 0)",
    )
    lim.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="PROMPTS_PER_S[:BURST]",
        help="token bucket per session (per Authorization value or connection for HTTP): a prompt over "
        "it gets a rate_limited error (HTTP 429 with Retry-After); BURST defaults to one second's "
        "worth; 0 = unlimited (default 0)",
    )
    lim.add_argument(
        "--max-inflight",
        type=int,
        metavar="N",
        help="prompts and persona switches in flight per session before inflight_limit errors; "
        "0 = unlimited (default 64)",
    )
    lim.add_argument(
        "--max-detached-sessions",
        type=int,
        metavar="N",
        help="resumable sessions without a connection; one more evicts the oldest; 0 = unlimited (default 10000)",
    )
    lim.add_argument(
        "--max-replay-bytes",
        type=int,
        metavar="N",
        help="bytes of replayable frames kept per session, besides --replay-buffer frames; the oldest "
        "go first; 0 = no byte bound (default 1048576)",
    )
    lim.add_argument(
        "--max-header-bytes",
        type=int,
        metavar="N",
        help="longest HTTP request line or header field; longer ones get 400 (default 8190)",
    )
    lim.add_argument(
        "--handshake-timeout-s",
        type=float,
        metavar="S",
        help="a connection whose first request head (or a POST's body) has not arrived within S is "
        "closed: slowloris; 0 = never (default 10)",
    )
    lim.add_argument(
        "--slow-reader-timeout-s",
        type=float,
        metavar="S",
        help="a connection whose send buffer stays full for S (a client that does not read) is "
        "aborted; 0 = never (default 10)",
    )
    add("--worker-index", type=int, help=argparse.SUPPRESS)
    add("--ready-fd", type=int, help=argparse.SUPPRESS)
    return p


_TOP_FLAGS = (
    "host",
    "port",
    "procs",
    "seed",
    "max_message_bytes",
    "deflate",
    "heartbeat_s",
    "resume_ttl_s",
    "replay_buffer",
    "slots",
    "loop",
    "admin",
)
_FAULT_FLAGS = ("drop_rate", "drop_after_s", "stall_ms", "stall_every_s", "error_rate", "drop_on_signal")
_PROFILE_FLAGS = ("ttft_ms", "itl_ms", "tokens", "tokens_per_frame")
_LIMIT_FLAGS = (
    "max_sessions",
    "max_inflight",
    "max_detached_sessions",
    "max_replay_bytes",
    "max_header_bytes",
    "handshake_timeout_s",
    "slow_reader_timeout_s",
)


def build_config(args: argparse.Namespace) -> ServerConfig:
    """Defaults, then the TOML file, then the flags that were given; ConfigError when invalid."""
    cfg = load_toml(args.config) if args.config else ServerConfig()
    changes: dict[str, Any] = {k: getattr(args, k) for k in _TOP_FLAGS if getattr(args, k) is not None}
    changes["token"] = args.token or os.environ.get("RTREF_TOKEN") or cfg.token
    default = cfg.personas[DEFAULT_PERSONA]
    profile = dataclasses.replace(
        default.profile, **{k: getattr(args, k) for k in _PROFILE_FLAGS if getattr(args, k) is not None}
    )
    personas = {**cfg.personas, DEFAULT_PERSONA: Persona(DEFAULT_PERSONA, profile, default.switch_ms)}
    for spec in args.persona:
        persona = parse_persona_spec(spec, profile)
        personas[persona.name] = persona
    changes["personas"] = personas
    changes["faults"] = dataclasses.replace(
        cfg.faults, **{k: getattr(args, k) for k in _FAULT_FLAGS if getattr(args, k) is not None}
    )
    limits = {k: getattr(args, k) for k in _LIMIT_FLAGS if getattr(args, k) is not None}
    if args.rate_limit is not None:
        limits["rate_limit_per_s"], limits["rate_limit_burst"] = args.rate_limit
    changes["limits"] = dataclasses.replace(cfg.limits, **limits)
    cfg = cfg.replace(**changes)
    _validate(cfg)
    return cfg


def _validate(cfg: ServerConfig) -> None:
    checks = [
        (0 <= cfg.port <= 65535, "--port must be 0..65535"),
        (cfg.procs >= 1, "--procs must be >= 1"),
        (cfg.procs == 1 or cfg.port != 0, "--port 0 needs --procs 1"),
        (cfg.max_message_bytes >= 1, "--max-message-bytes must be >= 1"),
        (cfg.heartbeat_s >= 0, "--heartbeat-s must be >= 0"),
        (cfg.resume_ttl_s >= 0, "--resume-ttl-s must be >= 0"),
        (cfg.replay_buffer >= 0, "--replay-buffer must be >= 0"),
        (cfg.slots >= 0, "--slots must be >= 0"),
        (0 <= cfg.faults.drop_rate <= 1, "--drop-rate must be within 0..1"),
        (0 <= cfg.faults.error_rate <= 1, "--error-rate must be within 0..1"),
        (0 <= cfg.faults.drop_on_signal <= 1, "--drop-on-signal must be within 0..1"),
        (0 <= cfg.faults.drop_after_s[0] <= cfg.faults.drop_after_s[1], "--drop-after-s needs 0 <= MIN <= MAX"),
        (cfg.faults.stall_ms >= 0 and cfg.faults.stall_every_s >= 0, "--stall-ms and --stall-every-s must be >= 0"),
        (
            cfg.faults.stall_every_s == 0 or cfg.faults.stall_ms < cfg.faults.stall_every_s * 1000,
            "--stall-ms must be shorter than --stall-every-s",
        ),
        (all(p.profile.tokens_per_frame >= 1 for p in cfg.personas.values()), "--tokens-per-frame must be >= 1"),
        *_limit_checks(cfg),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _limit_checks(cfg: ServerConfig) -> list[tuple[bool, str]]:
    lim = cfg.limits
    counts = ("max_sessions", "max_inflight", "max_detached_sessions", "max_replay_bytes", "rate_limit_burst")
    return [
        *((getattr(lim, name) >= 0, f"--{name.replace('_', '-')} must be >= 0") for name in counts),
        (lim.rate_limit_per_s >= 0, "--rate-limit must be >= 0 prompts/s"),
        (lim.max_header_bytes >= 256, "--max-header-bytes must be >= 256"),
        (
            lim.handshake_timeout_s >= 0 and lim.slow_reader_timeout_s >= 0,
            "--handshake-timeout-s and --slow-reader-timeout-s must be >= 0",
        ),
    ]


class _OneLineFormatter(logging.Formatter):
    """Log records, exceptions included, as single lines: never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        record.exc_info = None
        record.exc_text = None
        line = super().format(record)
        if exc is not None:
            line = f"{line}: {exc!r}"
        return " ".join(line.split())


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("reference_server: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    """Run the server (or its supervisor); returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    worker = args.ready_fd is not None
    # A storm's SIGUSR1 must never kill a server, not even one still starting: the event loop
    # (or the supervisor) takes the signal over once it can handle it.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    if worker:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor forwards signals once we can handle them
    _setup_logging()
    try:
        config = build_config(args)
        if config.procs > 1 and not worker:
            from reference_server.supervisor import supervise

            return supervise(argv, config)
        if not worker:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: in-memory metrics
            ensure_port_free(config.host, config.port)
        from reference_server.app import run_worker

        return run_worker(config, args.worker_index or 0, args.ready_fd)
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
