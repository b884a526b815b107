"""Run a benchmark: preflight, the load run (Locust, imported only here), the bundle's report."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rtbench.bundle.outdir import claim_out_dir, prepare_out_dir
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
    #: Why a bundle file could not be written (a full disk): the bundle is partial, and no
    #: report should be drawn into it.
    bundle_failure: str | None = None


def default_out_dir(scenario: str) -> Path:
    """reports/<time>-<scenario>/, the default bundle directory (`claim_out_dir` adds -2, -3, ...
    when a run started in the same second has it)."""
    return Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario}"


def run_benchmark(
    config: RunConfig,
    out_dir: Path | None = None,
    hooks: RunHooks | None = None,
    outage: ScheduledOutage | None = None,
    overwrite: bool = False,
    abort: AbortOn | None = None,
) -> RunOutcome:
    """Check the bundle directory can be written, the run fits this machine and the target
    answers, run it, and return its outcome.

    A problem found before the load starts is a one-line `RtbenchError`; once it has started, the
    run always leaves a bundle (partial after Ctrl-C, a dead target, a crash, an `abort` rule
    breached or a full disk; if even summary.json cannot be written, a one-line `BundleError` says
    what the bundle keeps). An `out_dir` holding another run's bundle is refused, unless
    `overwrite` (its files are then removed first)."""
    hooks = hooks or RunHooks()
    out = (
        prepare_out_dir(out_dir, overwrite) if out_dir is not None else claim_out_dir(default_out_dir(config.scenario))
    )
    try:
        config = preflight(config, hooks.on_warning, hooks.on_note)
        from rtbench.load.runner import run_load  # imports locust, which monkey-patches the stdlib

        with hooks.live() as feed:
            result = run_load(config, out.path, on_tick=feed.update, on_warning=feed.warn, outage=outage, abort=abort)
    finally:
        out.discard()  # only directories it made and nothing was written into
    return RunOutcome(
        config, result.summary, result.bundle_dir, result.partial, result.partial_reason, result.bundle_failure
    )


def render_run_report(bundle: Path, baseline: Path | None = None, spec: SloSpec | None = None) -> Path:
    """Write the bundle's report.html (pandas and matplotlib load only here); return its path."""
    from rtbench.report import render_report

    return render_report(bundle, baseline, spec)
