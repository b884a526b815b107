"""Before a run: will the requested sessions fit in this machine's limits?

Three limits stop a large run halfway if nobody checks them first:
- open files: one per connection, per process, capped by the hard `RLIMIT_NOFILE`;
- ephemeral ports: one per connection per (source address, target address and port) pair, from
  `ip_local_port_range`; `connect()` slows sharply once about half of them are in use;
- memory: each session costs the client about `CLIENT_BYTES_PER_SESSION`.

`plan()` resolves `--workers auto` and returns warnings; a request that cannot fit is a
one-line `ConfigError` that says what to change.
"""

from __future__ import annotations

import math
import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from rtbench.config import RunConfig
from rtbench.errors import ConfigError
from rtbench.reachability import check_reachable

__all__ = [
    "Limits",
    "Plan",
    "check_source_addrs",
    "machine_limits",
    "plan",
    "preflight",
    "CLIENT_BYTES_PER_SESSION",
    "FDS_RESERVED",
]

#: Client memory per session, measured at 10k sessions (about 28 KB), rounded up.
CLIENT_BYTES_PER_SESSION = 32 * 1024
#: File descriptors a load process needs besides its connections (logs, ZeroMQ, psutil, ...).
FDS_RESERVED = 200
#: Share of a pair's ephemeral ports above which connect() slows sharply.
PORT_COMFORT = 0.5
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@dataclass(frozen=True)
class Limits:
    """What this machine allows one run."""

    open_files: int
    ephemeral_ports: int
    available_bytes: int


@dataclass(frozen=True)
class Plan:
    """The resolved worker count and what deserves a warning."""

    workers: int
    warnings: tuple[str, ...]


def machine_limits() -> Limits:
    """This machine's open-file hard limit, ephemeral port count and available memory."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_files = hard if hard != resource.RLIM_INFINITY else 1 << 20
    try:
        low, high = (int(v) for v in PORT_RANGE_FILE.read_text().split())
        ports = high - low + 1
    except (OSError, ValueError):
        ports = 28_232
    return Limits(int(open_files), ports, int(psutil.virtual_memory().available))


def check_source_addrs(addrs: tuple[str, ...]) -> None:
    """Each address must be one this machine can send from (bindable)."""
    for addr in addrs:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((addr, 0))
            except OSError as exc:
                raise ConfigError(
                    f"--source-addrs: cannot send from {addr} ({exc.strerror}); use addresses of this"
                    " machine, e.g. 127.0.0.2-127.0.0.9 for a loopback target"
                ) from None


def plan(users: int, workers: int | None, source_addrs: tuple[str, ...], limits: Limits) -> Plan:
    """Resolve `workers` (None: auto) and check that `users` sessions fit; see the module doc."""
    per_process = max(1, limits.open_files - FDS_RESERVED)
    needed = math.ceil(users / per_process)
    if workers is None:
        workers = max(1, needed)
    elif workers < needed:
        raise ConfigError(
            f"{users:,} sessions need {needed} load processes: each may open {limits.open_files:,} files"
            f" (the hard limit here) and {workers} would hold {math.ceil(users / workers):,} each;"
            f" use --workers {needed} or --workers auto"
        )
    warnings: list[str] = []
    pairs = max(1, len(source_addrs))
    per_pair = math.ceil(users / pairs)
    if per_pair > limits.ephemeral_ports:
        fit = math.ceil(users / (limits.ephemeral_ports * PORT_COMFORT))
        raise ConfigError(
            f"{users:,} connections to one target need {per_pair:,} ephemeral ports per source address,"
            f" and there are {limits.ephemeral_ports:,}; spread them with --source-addrs over {fit} or more"
            f" addresses (e.g. 127.0.0.2-127.0.0.{fit + 1} for a loopback target)"
        )
    if per_pair > limits.ephemeral_ports * PORT_COMFORT:
        fit = math.ceil(users / (limits.ephemeral_ports * PORT_COMFORT))
        warnings.append(
            f"{per_pair:,} connections per source address use over half of its {limits.ephemeral_ports:,}"
            f" ephemeral ports, where connect() slows sharply; --source-addrs with {fit}+ addresses avoids it"
        )
    client_bytes = users * CLIENT_BYTES_PER_SESSION
    if client_bytes > limits.available_bytes:
        raise ConfigError(
            f"{users:,} sessions need about {client_bytes / 2**30:.1f} GiB of client memory and"
            f" {limits.available_bytes / 2**30:.1f} GiB is available; run fewer users or add machines"
            " (rtbench master/worker)"
        )
    return Plan(workers, tuple(warnings))


def _ignore(message: str) -> None:
    pass


def preflight(
    config: RunConfig, on_warning: Callable[[str], None] = _ignore, on_note: Callable[[str], None] = _ignore
) -> RunConfig:
    """Everything checked before a run, once: the source addresses, that the sessions fit this
    machine (warnings to `on_warning`; `workers` auto resolved, told to `on_note`), and that the
    target accepts connections. Returns the config with its workers resolved."""
    check_source_addrs(config.load.source_addrs)
    if not config.load.expect_workers:  # remote workers' machines have limits of their own
        resolved = plan(config.load.users, config.load.workers or None, config.load.source_addrs, machine_limits())
        for warning in resolved.warnings:
            on_warning(warning)
        if config.load.workers != resolved.workers:
            on_note(f"workers: {resolved.workers} load processes")
        config = config.replace(load=config.load.replace(workers=resolved.workers))
    check_reachable(config.target.url, timeout=min(config.target.connect_timeout, 5.0))
    return config
