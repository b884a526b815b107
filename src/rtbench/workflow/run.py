"""Run a benchmark: preflight, the load run (Locust, imported only here), the bundle's report."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rtbench.bundle.summary_types import Summary
from rtbench.config import RunConfig
from rtbench.preflight import preflight

if TYPE_CHECKING:
    from rtbench.load.live import LiveStatus
    from rtbench.load.outage import ScheduledOutage
    from rtbench.slo.abort import AbortOn
    from rtbench.slo.spec import SloSpec

__all__ = ["LiveFeed", "RunHooks", "RunOutcome", "default_out_dir", "render_run_report", "run_benchmark"]


class LiveFeed(Protocol):
    """Where a running benchmark reports each second's status and its warnings."""

    def update(self, status: LiveStatus) -> None: ...

    def warn(self, message: str) -> None: ...


class _Quiet:
    def update(self, status: LiveStatus) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def _ignore(message: str) -> None:
    pass


def _quiet() -> AbstractContextManager[LiveFeed]:
    return nullcontext(_Quiet())


@dataclass(frozen=True)
class RunHooks:
    """How a run reports progress; every hook defaults to silence."""

    #: A warning before the run starts (preflight).
    on_warning: Callable[[str], None] = _ignore
    #: A notice before the run starts, e.g. the resolved number of load processes.
    on_note: Callable[[str], None] = _ignore
    #: Entered for the length of the load run; its feed gets every tick and warning.
    live: Callable[[], AbstractContextManager[LiveFeed]] = field(default=_quiet)


@dataclass(frozen=True)
class RunOutcome:
    """What a run left behind: its summary, its bundle, and whether it ended early."""

    config: RunConfig
    summary: Summary
    bundle_dir: Path
    partial: bool
    partial_reason: str | None


def default_out_dir(scenario: str) -> Path:
    """reports/<time>-<scenario>/, the default bundle directory."""
    return Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario}"


def run_benchmark(
    config: RunConfig,
    out_dir: Path | None = None,
    hooks: RunHooks | None = None,
    outage: ScheduledOutage | None = None,
    abort: AbortOn | None = None,
) -> RunOutcome:
    """Check the run fits this machine and the target answers, run it, and return its outcome.

    A problem found before the load starts is a one-line `RtbenchError`; once it has started, the
    run always leaves a bundle (partial after Ctrl-C, a dead target, a crash or an `abort` rule
    breached)."""
    hooks = hooks or RunHooks()
    config = preflight(config, hooks.on_warning, hooks.on_note)
    from rtbench.load.runner import run_load  # imports locust, which monkey-patches the stdlib

    with hooks.live() as feed:
        result = run_load(
            config,
            out_dir or default_out_dir(config.scenario),
            on_tick=feed.update,
            on_warning=feed.warn,
            outage=outage,
            abort=abort,
        )
    return RunOutcome(config, result.summary, result.bundle_dir, result.partial, result.partial_reason)


def render_run_report(bundle: Path, baseline: Path | None = None, spec: SloSpec | None = None) -> Path:
    """Write the bundle's report.html (pandas and matplotlib load only here); return its path."""
    from rtbench.report import render_report

    return render_report(bundle, baseline, spec)
