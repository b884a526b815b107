"""The CI gate's decision: one exit code and a verdict line from SLO results and comparisons.

Exit codes:

- 0  every SLO rule holds and no percentile regressed;
- 1  an SLO rule is breached (this wins over 2: the lowest non-zero code), or the run was stopped
     early by `--abort-on` because one was (`rtbench.slo.abort`);
- 2  a regression against the baseline, with every SLO rule holding;
- 3  the results cannot be trusted: a partial bundle (`partial: true`), a run that did no work (no
     session connected, or no turn completed: `rtbench.slo.work`), or, with `strict`, a load
     generator that was saturated (`self_check.saturated`). Without `strict`, saturation is a
     warning. Code 3 wins over 1 and 2: a verdict on untrustworthy numbers means nothing.
     (Invalid input, such as a bad SLO file, also exits 3, before any decision is made.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rtbench.bundle.summary_types import Summary
from rtbench.slo.abort import ABORTED
from rtbench.slo.compare import Comparison
from rtbench.slo.evaluate import Verdict
from rtbench.slo.work import no_work

__all__ = [
    "GateOutcome",
    "decide",
    "EXIT_PASS",
    "EXIT_SLO_BREACHED",
    "EXIT_REGRESSION",
    "EXIT_INVALID",
]

EXIT_PASS, EXIT_SLO_BREACHED, EXIT_REGRESSION, EXIT_INVALID = 0, 1, 2, 3
_WORDS = {EXIT_PASS: "PASS", EXIT_SLO_BREACHED: "FAIL", EXIT_REGRESSION: "REGRESSION", EXIT_INVALID: "INVALID"}


@dataclass(frozen=True)
class GateOutcome:
    """The gate's decision: `exit_code`, a one-line `headline` ("FAIL: 1 of 9 SLO rules breached
    ..."), the `problems` behind code 3 and the `warnings` that do not change the code."""

    exit_code: int
    headline: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASS


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def decide(
    summary: Summary | None,
    verdict: Verdict | None,
    comparisons: Sequence[Comparison] | None = None,
    strict: bool = False,
) -> GateOutcome:
    """Decide the gate for a bundle's `summary` (None: no summary.json), its SLO `verdict` (None:
    no SLOs checked) and its `comparisons` with a baseline (None: no baseline given)."""
    problems: list[str] = []
    warnings: list[str] = []
    reason = summary.get("partial_reason") if summary is not None else None
    aborted = isinstance(reason, str) and reason.startswith(ABORTED)
    if summary is not None and summary.get("partial") and not aborted:
        problems.append(f"partial bundle: {reason or 'the run did not finish'}")
    idle = no_work(summary) if summary is not None else None
    problems += [idle] if idle else []
    self_check = summary.get("self_check") if summary is not None else None
    if isinstance(self_check, Mapping) and self_check.get("saturated"):
        line = f"load generator saturated: {self_check.get('message') or 'see self_check'}"
        (problems if strict else warnings).append(
            line + (" (--strict)" if strict else "; results may reflect the client")
        )
    parts: list[str] = [str(reason)] if aborted else []
    breached = 0
    if verdict is not None:
        breached = len(verdict.breached)
        total = len(verdict.results)
        parts.append(
            f"{breached} of {_plural(total, 'SLO rule')} breached"
            if breached
            else f"all {_plural(total, 'SLO rule')} met"
        )
    regressions = 0
    if comparisons is not None:
        regressions = sum(1 for c in comparisons if c.regressed)
        checks = _plural(len(comparisons), "check")
        parts.append(
            f"{_plural(regressions, 'regression')} in {checks}" if regressions else f"no regression in {checks}"
        )
    if problems:
        code = EXIT_INVALID
    elif breached or aborted:
        code = EXIT_SLO_BREACHED
    elif regressions:
        code = EXIT_REGRESSION
    else:
        code = EXIT_PASS
    headline = f"{_WORDS[code]}: " + "; ".join(problems + parts)
    return GateOutcome(code, headline, tuple(problems), tuple(warnings))
