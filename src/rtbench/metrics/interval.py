"""One second of measurements: the wire form (`Interval`) and the in-memory sums (`Bucket`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rtbench.metrics.histogram import LatencyHistogram

__all__ = ["Bucket", "Interval"]


@dataclass(frozen=True)
class Interval:
    """One second of one process's measurements, encoded to travel between processes."""

    #: Wall-clock second (epoch seconds, int) the interval covers: [second, second + 1).
    second: int
    #: Metric name -> HdrHistogram encoding (base64 bytes) of the values recorded in that second.
    histograms: dict[str, bytes] = field(default_factory=dict)
    #: Metric name -> values clamped into the histogram range (only non-zero entries).
    clamped: dict[str, int] = field(default_factory=dict)
    #: Counter name -> increments in that second.
    counters: dict[str, int] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """A plain dict of str/int that survives msgpack (Locust messages) and JSON alike."""
        return {
            "second": self.second,
            "histograms": {name: data.decode("ascii") for name, data in self.histograms.items()},
            "clamped": dict(self.clamped),
            "counters": dict(self.counters),
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Interval:
        """The Interval `to_wire` described (histograms may arrive as str or bytes)."""
        return cls(
            second=int(d["second"]),
            histograms={
                str(name): data.encode("ascii") if isinstance(data, str) else bytes(data)
                for name, data in d.get("histograms", {}).items()
            },
            clamped={str(k): int(v) for k, v in d.get("clamped", {}).items()},
            counters={str(k): int(v) for k, v in d.get("counters", {}).items()},
        )


class Bucket:
    """Histograms (created on first use) and counters summed over some measurements."""

    __slots__ = ("histograms", "counters")

    def __init__(self) -> None:
        self.histograms: dict[str, LatencyHistogram] = {}
        self.counters: dict[str, int] = {}

    def histogram(self, metric: str) -> LatencyHistogram:
        h = self.histograms.get(metric)
        if h is None:
            h = self.histograms[metric] = LatencyHistogram()
        return h

    def count(self, name: str, n: int) -> None:
        counters = self.counters
        counters[name] = counters.get(name, 0) + n

    def add_counters(self, counters: Mapping[str, int]) -> None:
        for name, n in counters.items():
            self.count(name, n)

    def add_interval(self, interval: Interval) -> None:
        """Add an encoded interval exactly (clamped counts included)."""
        for metric, data in interval.histograms.items():
            self.histogram(metric).add_encoded(data, interval.clamped.get(metric, 0))
        self.add_counters(interval.counters)

    def add_bucket(self, other: Bucket) -> None:
        for metric, h in other.histograms.items():
            self.histogram(metric).add(h)
        self.add_counters(other.counters)

    def clamped(self) -> dict[str, int]:
        """Metric -> clamped values, non-zero entries only."""
        return {name: h.clamped for name, h in self.histograms.items() if h.clamped}

    def to_interval(self, second: int) -> Interval:
        """This bucket encoded as the interval of `second`."""
        return Interval(
            second=second,
            histograms={name: h.encode() for name, h in self.histograms.items()},
            clamped=self.clamped(),
            counters=dict(self.counters),
        )
