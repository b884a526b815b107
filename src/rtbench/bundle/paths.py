"""The file names of a result bundle, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SUMMARY_FILE",
    "TIMESERIES_FILE",
    "HLOG_SUFFIX",
    "RUN_FILE",
    "EVENTS_FILE",
    "TURNS_FILE",
    "ERROR_FILE",
    "RESERVE_FILE",
    "REPORT_FILE",
    "CHART_DIR",
    "BundlePaths",
]

SUMMARY_FILE = "summary.json"
TIMESERIES_FILE = "timeseries.csv"
HLOG_SUFFIX = ".hlog"
#: Written when the run starts: what a killed run (no summary.json) still tells about itself.
RUN_FILE = "run.json"
#: One JSON line per event (a worker or target crash, ...), appended as it happens.
EVENTS_FILE = "events.jsonl"
#: With --export-turns: one JSON line per turn that ended, appended as workers report them.
TURNS_FILE = "turns.jsonl"
#: The traceback of a run that crashed.
ERROR_FILE = "error.log"
#: Space held while the run writes, freed just before summary.json is written (a disk that fills
#: mid-run still leaves room for the summary). Never left in a finished bundle.
RESERVE_FILE = ".rtbench-reserve"
#: `rtbench report`'s page, and the directory of its charts (`report/<chart>.png`).
REPORT_FILE = "report.html"
CHART_DIR = "report"


@dataclass(frozen=True)
class BundlePaths:
    """Where each file of the bundle in directory `root` lives."""

    root: Path

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def timeseries(self) -> Path:
        return self.root / TIMESERIES_FILE

    @property
    def run(self) -> Path:
        return self.root / RUN_FILE

    @property
    def events(self) -> Path:
        return self.root / EVENTS_FILE

    @property
    def turns(self) -> Path:
        return self.root / TURNS_FILE

    def hlog(self, metric: str) -> Path:
        """The interval log of `metric`, e.g. `ttft.hlog`."""
        return self.root / f"{metric}{HLOG_SUFFIX}"

    def hlog_metrics(self) -> list[str]:
        """Metrics that have an interval log in the bundle, sorted."""
        return sorted(p.name[: -len(HLOG_SUFFIX)] for p in self.root.glob(f"*{HLOG_SUFFIX}"))
