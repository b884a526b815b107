"""The target's resources, sampled through its PID or its Prometheus endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtbench.config import RunConfig
from rtbench.errors import ConfigError
from rtbench.load.monitors import ProcessSampler, PrometheusScraper, ScrapeError

__all__ = ["TargetWatch", "TargetSample", "target_gauges", "SERVER_GAUGES"]

#: The per-second gauges of an LLM server's own metrics (`PrometheusScraper.scrape` keys).
SERVER_GAUGES = ("waiting", "running", "kv_cache", "prompt_tokens_per_s", "generation_tokens_per_s")


@dataclass(frozen=True)
class TargetSample:
    """One reading of the target's resources; fields are None when the source lacks them."""

    rss_bytes: float | None
    cpu_percent: float | None
    sessions: float | None
    #: An LLM server's own figures, from its metrics (`SERVER_GAUGES`): queue, KV cache, tokens/s.
    server: dict[str, float | None] = field(default_factory=dict)


def target_gauges(sample: TargetSample | None) -> dict[str, float | None]:
    """A sample as the run's per-second gauges: `target_rss_bytes`, `target_cpu`,
    `target_sessions` and `target_<name>` for each of `SERVER_GAUGES`."""
    server = sample.server if sample is not None else {}
    return {
        "target_rss_bytes": sample.rss_bytes if sample else None,
        "target_cpu": sample.cpu_percent if sample else None,
        "target_sessions": sample.sessions if sample else None,
        **{f"target_{name}": server.get(name) for name in SERVER_GAUGES},
    }


class TargetWatch:
    """Samples the target through its PID (psutil) or a Prometheus `/metrics` URL."""

    def __init__(self, config: RunConfig) -> None:
        self.source = "none"
        self._sampler: ProcessSampler | None = None
        self._scraper: PrometheusScraper | None = None
        self.gone = False
        sources = []
        if config.target.pid:
            try:
                self._sampler = ProcessSampler(config.target.pid, count_fds=False)
            except ProcessLookupError:
                raise ConfigError(f"--target-pid {config.target.pid}: no such process") from None
            sources.append(f"pid {config.target.pid}")
        if config.target.metrics_url:
            self._scraper = PrometheusScraper(config.target.metrics_url)
            sources.append(config.target.metrics_url)
        self.source = " + ".join(sources) or "none"

    def retarget(self, pid: int) -> None:
        """Follow a restarted target's new process."""
        self._sampler = ProcessSampler(pid, count_fds=False)
        self.gone = False

    def sample(self) -> TargetSample | None:
        """A sample, or None when there is no source or both failed this time.

        With both a PID and a metrics URL, RSS and CPU come from the PID (the OS's view) and the
        session count from the metrics.
        """
        scraped: dict[str, Any] = {}
        if self._scraper is not None:
            try:
                scraped = self._scraper.scrape()
            except ScrapeError:
                scraped = {}
        if self._sampler is not None:
            try:
                s = self._sampler.sample()
            except ProcessLookupError:
                self.gone = True
                return None
            return TargetSample(float(s.rss_bytes), s.cpu_percent, scraped.get("sessions"), _server(scraped))
        if scraped:
            return TargetSample(
                scraped.get("rss_bytes"), scraped.get("cpu_percent"), scraped.get("sessions"), _server(scraped)
            )
        return None


def _server(scraped: dict[str, Any]) -> dict[str, float | None]:
    return {name: scraped.get(name) for name in SERVER_GAUGES}
