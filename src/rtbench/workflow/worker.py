"""Join an `rtbench master` as a Locust worker (Locust imported only once the worker starts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtbench.errors import ConfigError
from rtbench.values import parse_host_port

__all__ = ["join_master"]


def join_master(
    master: str, hlog_dir: Path | None = None, on_joining: Callable[[str, int], None] = lambda host, port: None
) -> int:
    """Run this process as a worker of the master at "HOST:PORT" until the master ends the run;
    return its exit code (0: the master ended the run). `on_joining(host, port)` hears the start."""
    try:
        host, port = parse_host_port(master)
    except ValueError as exc:
        raise ConfigError(f"--master: expected {exc}, got {master!r}") from None
    on_joining(host, port)
    from rtbench.load.distributed.worker import run_worker  # imports locust, which monkey-patches the stdlib

    return run_worker(host, port, hlog_dir)
