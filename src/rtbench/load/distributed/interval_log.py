"""A worker's own copy of the intervals it ships: one HdrHistogram log per metric.

With these, the master's merge can be checked offline: merging every worker's logs must give the
master's histograms exactly.
"""

from __future__ import annotations

import time
from pathlib import Path

from rtbench.bundle.hlog import IntervalLogWriter
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.interval import Interval

__all__ = ["WorkerIntervalLog"]


class WorkerIntervalLog:
    """Appends each shipped interval to `<directory>/<metric>.hlog`, flushed line by line."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._start = time.time()
        self._logs: dict[str, IntervalLogWriter] = {}

    def __call__(self, intervals: list[Interval]) -> None:
        for interval in intervals:
            for metric, data in interval.histograms.items():
                log = self._logs.get(metric)
                if log is None:
                    log = self._logs[metric] = IntervalLogWriter(self.directory / f"{metric}.hlog", self._start)
                histogram = LatencyHistogram()
                histogram.add_encoded(data, interval.clamped.get(metric, 0))
                log.write(interval.second, histogram)
