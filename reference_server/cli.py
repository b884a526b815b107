"""Command line: `python -m reference_server [flags]` (also `rtbench serve`, through `main`)."""

from __future__ import annotations

import logging
import os
import signal
import sys

from reference_server.config import ConfigError
from reference_server.flags import build_config, build_parser
from reference_server.listen import StartupError, ensure_port_free

__all__ = ["build_config", "build_parser", "main"]


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


def main(argv: list[str] | None = None, prog: str = "python -m reference_server") -> int:
    """Run the server (or its supervisor); returns the process exit code. `prog` names the
    command in usage and errors (`rtbench serve` runs the same server)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog=prog).parse_args(argv)
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
