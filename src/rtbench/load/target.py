"""The target's resources, sampled through its PID or its Prometheus endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtbench.config import RunConfig
from rtbench.load.monitors import ProcessSampler, PrometheusScraper

__all__ = ["TargetWatch", "TargetSample"]


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
