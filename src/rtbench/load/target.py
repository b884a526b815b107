"""The target as seen from outside: a reachability check and its resource samples."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from rtbench.config import RunConfig
from rtbench.errors import TargetUnreachable
from rtbench.load.monitors import ProcessSampler, PrometheusScraper

__all__ = ["check_reachable", "TargetWatch", "TargetSample"]

DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def check_reachable(url: str, timeout: float = 3.0) -> None:
    """Raise `TargetUnreachable` with one line when nothing accepts TCP at the target's address."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or DEFAULT_PORTS.get(parsed.scheme, 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except socket.timeout:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise TargetUnreachable(f"cannot reach target {url}: {reason.lower()}")


@dataclass(frozen=True)
class TargetSample:
    """One reading of the target's resources; fields are None when the source lacks them."""

    rss_bytes: float | None
    cpu_percent: float | None
    sessions: float | None


class TargetWatch:
    """Samples the target through its PID (psutil) or a Prometheus `/metrics` URL."""

    def __init__(self, config: RunConfig) -> None:
        self.source = "none"
        self._sampler: ProcessSampler | None = None
        self._scraper: PrometheusScraper | None = None
        self.gone = False
        if config.target_pid:
            self._sampler = ProcessSampler(config.target_pid)
            self.source = f"pid {config.target_pid}"
        elif config.target_metrics:
            self._scraper = PrometheusScraper(config.target_metrics)
            self.source = config.target_metrics

    def sample(self) -> TargetSample | None:
        """A sample, or None when there is no source or it failed this time."""
        try:
            if self._sampler is not None:
                s = self._sampler.sample()
                return TargetSample(float(s.rss_bytes), s.cpu_percent, None)
            if self._scraper is not None:
                data: dict[str, Any] = self._scraper.scrape()
                return TargetSample(data.get("rss_bytes"), data.get("cpu_percent"), data.get("sessions"))
        except ProcessLookupError:
            self.gone = True
        except Exception:  # noqa: BLE001 - a failed scrape must not stop the run
            return None
        return None
