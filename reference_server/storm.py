"""Reconnect storms: abort a random fraction of this process's open WebSockets at one moment.

Triggered by SIGUSR1 (`--drop-on-signal F`; with `--procs N` the supervisor forwards the signal to
every worker) or by `POST /admin/drop?fraction=F` (`--admin`, loopback peers only, the answering
process only). A storm cuts connections as the `--drop-rate` fault does: the transport is aborted
(no close frame), so native sessions detach and stay resumable.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import time
from dataclasses import asdict, dataclass

from aiohttp import web

from reference_server.http_errors import error_response
from reference_server.jsonwire import dumps
from reference_server.state import STATE, ServerState

__all__ = ["StormResult", "drop_fraction", "handle_admin_drop", "is_loopback", "on_storm_signal"]

log = logging.getLogger("reference_server")


@dataclass(frozen=True)
class StormResult:
    """What one storm did in one process."""

    #: Connections aborted.
    dropped: int
    #: Open WebSocket connections just before.
    open: int
    #: Wall-clock time of the storm (Unix seconds).
    ts: float
    #: The process that stormed.
    pid: int


def drop_fraction(state: ServerState, fraction: float) -> StormResult:
    """Abort `round(fraction * open)` of the open WebSockets, picked uniformly at random, in one go.

    Counted in `rtref_faults_total{kind="drop"}` and `rtref_storm_drops_total`, stamped in
    `rtref_last_storm_timestamp_seconds`, and logged with the time.
    """
    ts = time.time()
    transports = [
        t for t in (conn.transport for conn in state.sockets.values()) if t is not None and not t.is_closing()
    ]
    victims = state.faults.storm_victims(transports, fraction)
    for transport in victims:
        transport.abort()
    metrics = state.metrics
    metrics.faults.labels("drop").inc(len(victims))
    metrics.storm_drops.inc(len(victims))
    metrics.last_storm.set(ts)
    result = StormResult(len(victims), len(transports), ts, os.getpid())
    log.warning(
        "storm at %.6f: dropped %d of %d open WebSocket connections (fraction %g, worker %d, pid %d)",
        ts,
        result.dropped,
        result.open,
        fraction,
        state.worker,
        result.pid,
    )
    return result


def on_storm_signal(state: ServerState) -> None:
    """SIGUSR1: a storm of `--drop-on-signal`, or a logged no-op without it or while stopping."""
    fraction = state.config.faults.drop_on_signal
    if fraction <= 0 or state.shutting_down:
        why = "the server is stopping" if state.shutting_down else "started without --drop-on-signal"
        log.warning("SIGUSR1 ignored: %s", why)
        return
    drop_fraction(state, fraction)


def is_loopback(host: str | None) -> bool:
    """Whether the peer address `host` is a loopback one (IPv4-mapped IPv6 included)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


async def handle_admin_drop(request: web.Request) -> web.Response:
    """`POST /admin/drop?fraction=F`: a storm in this process; `{"dropped", "open", "ts", "pid"}`."""
    state = request.app[STATE]
    if not is_loopback(request.remote):
        state.metrics.error("forbidden")
        return error_response(403, "forbidden", "/admin is served to loopback peers only")
    text = request.query.get("fraction")
    try:
        fraction = state.config.faults.drop_on_signal if text is None else float(text)
    except ValueError:
        fraction = math.nan
    if not 0 < fraction <= 1:
        state.metrics.error("bad_request")
        return error_response(
            400,
            "bad_request",
            "fraction must be a number within 0 (excluded) and 1; it defaults to --drop-on-signal when that is set",
        )
    return web.json_response(asdict(drop_fraction(state, fraction)), dumps=dumps)
