"""One way to start the bundled reference server for a run: `served_target()`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from rtbench.config import RunConfig
from rtbench.faults import ServerPlan
from rtbench.load.outage import ScheduledOutage
from rtbench.local_server import LocalServer

__all__ = ["ServedTarget", "served_target"]


@dataclass(frozen=True)
class ServedTarget:
    """A running reference server and the run config aimed at it."""

    config: RunConfig
    server: LocalServer
    #: The planned kill (and restart) of `[faults]`, or None.
    outage: ScheduledOutage | None


@contextmanager
def served_target(
    config: RunConfig,
    flags: Sequence[str] | None = None,
    host: str = "127.0.0.1",
    netns: str | None = None,
    scrape_metrics: bool = False,
) -> Iterator[ServedTarget]:
    """Start the reference server and yield the config aimed at it (same scheme and path, the
    server's host and port, its PID sampled); stop it afterwards, whatever happens.

    `flags` are the server's options; by default the scenario's `[server]` table and `[faults]`,
    whose `kill_after` also plans an outage. With `netns` the server runs in that namespace, and
    with `scrape_metrics` the run also scrapes its `/metrics`."""
    plan = config.server.plan if flags is None else ServerPlan(tuple(flags))
    server = LocalServer(plan.flags, host=host, netns=netns)
    server.start()
    try:
        parts = urlsplit(config.target.url)
        target = urlunsplit((parts.scheme, f"{server.host}:{server.port}", parts.path, parts.query, ""))
        metrics_url = server.base_url + "/metrics" if scrape_metrics else config.target.metrics_url
        aimed = config.replace(target=config.target.replace(url=target, pid=server.pid, metrics_url=metrics_url))
        outage = ScheduledOutage(server, plan) if plan.kill_after_s is not None else None
        try:
            yield ServedTarget(aimed, server, outage)
        finally:
            if outage is not None:
                outage.close()
    finally:
        server.stop()
