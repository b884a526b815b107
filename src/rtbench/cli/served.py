"""`rtbench run --serve`: start the reference server for the run, with the scenario's `[server]`
options and `[faults]`, and point the run at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from rtbench.cli.console import console, escape
from rtbench.config import RunConfig
from rtbench.faults import plan_server
from rtbench.load.outage import ScheduledOutage
from rtbench.local_server import LocalServer
from rtbench.scenario import parse_duration

__all__ = ["served_target"]


@contextmanager
def served_target(config: RunConfig) -> Iterator[tuple[RunConfig, ScheduledOutage | None]]:
    """Start the server; yield the config aimed at it (and sampling its PID) and its planned
    outage, if `[faults]` has one; stop the server afterwards, whatever happens."""
    plan = plan_server(config.server, config.faults, parse_duration)
    server = LocalServer(plan.flags)
    with console.status("starting the reference server"):
        server.start()
    try:
        parts = urlsplit(config.target)
        target = urlunsplit((parts.scheme, f"{server.host}:{server.port}", parts.path, parts.query, ""))
        console.print(f"reference server: pid {server.pid}, {escape(target)}", highlight=False)
        outage = None
        if plan.kill_after_s is not None:
            outage = ScheduledOutage(server, plan)
        try:
            yield config.replace(target=target, target_pid=server.pid), outage
        finally:
            if outage is not None:
                outage.close()
    finally:
        server.stop()
