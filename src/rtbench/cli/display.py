"""Rich renderings: the live status of a run and the summary table of a bundle."""

from __future__ import annotations

import time
from typing import Any, Literal

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from rtbench.bundle.summary_types import Summary
from rtbench.metrics.names import LATENCY_METRICS

__all__ = ["LiveDisplay", "summary_table"]

PLAIN_EVERY_S = 5.0
#: The metrics of the summary table, in report order.
SUMMARY_METRICS: tuple[str, ...] = tuple(LATENCY_METRICS)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _status_table(status: Any) -> Table:
    table = Table(title=f"rtbench - {status.phase} - {status.elapsed_s:,.0f} s", title_justify="left")
    for column in (
        "users",
        "sessions",
        "turns/s",
        "tokens/s",
        "TTFT p50",
        "TTFT p95",
        "errors",
        "client CPU",
        "client lag p99",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{status.users}/{status.target_users}",
        str(status.sessions),
        f"{status.turns_per_s:,.0f}",
        f"{status.tokens_per_s:,.0f}",
        _ms(status.ttft_p50_ms) + " ms",
        _ms(status.ttft_p95_ms) + " ms",
        str(status.errors),
        f"{status.client_cpu:.0f}%",
        _ms(status.client_lag_p99_ms) + " ms",
    )
    return table


class LiveDisplay:
    """A live table on a terminal; a status line every few seconds elsewhere (CI logs)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live: Live | None = None
        self._last_plain = 0.0

    def __enter__(self) -> LiveDisplay:
        if self._console.is_terminal:
            self._live = Live(console=self._console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def update(self, status: Any) -> None:
        if self._live is not None:
            self._live.update(_status_table(status), refresh=True)
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self._console.print(
                f"[{status.elapsed_s:5.0f} s] {status.phase:<6} sessions {status.sessions}/{status.target_users}"
                f"  turns/s {status.turns_per_s:,.0f}  TTFT p50 {_ms(status.ttft_p50_ms)} ms"
                f"  p95 {_ms(status.ttft_p95_ms)} ms  errors {status.errors}  client CPU {status.client_cpu:.0f}%",
                highlight=False,
                soft_wrap=True,
            )

    def warn(self, message: str) -> None:
        self._console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


PERCENTILE_COLUMNS: tuple[Literal["p50", "p90", "p95", "p99", "p99_9", "max"], ...] = (
    "p50",
    "p90",
    "p95",
    "p99",
    "p99_9",
    "max",
)


def summary_table(summary: Summary) -> Table:
    """Per-metric percentiles (ms) of the reported phases."""
    scope = "all phases" if summary.get("include_ramp") else "steady state"
    table = Table(title=f"{summary.get('scenario', '')}: latency in ms ({scope})", title_justify="left")
    table.add_column("metric")
    for column in ("count", *PERCENTILE_COLUMNS):
        table.add_column(column.replace("_", "."), justify="right")
    metrics = summary.get("metrics", {})
    for name in SUMMARY_METRICS:
        stats = metrics.get(name)
        if not stats or not stats.get("count"):
            continue
        table.add_row(name, f"{stats['count']:,}", *(_ms(stats[c]) for c in PERCENTILE_COLUMNS))
    return table
