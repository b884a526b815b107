"""A plain TCP check that a target accepts connections, with a one-line error when it does not."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from rtbench.errors import TargetUnreachable

__all__ = ["check_reachable"]

DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def check_reachable(url: str, timeout: float = 3.0) -> None:
    """Raise `TargetUnreachable` when nothing accepts TCP at the target's host and port."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or DEFAULT_PORTS.get(parsed.scheme, 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise TargetUnreachable(f"cannot reach target {url}: {reason.lower()}")
