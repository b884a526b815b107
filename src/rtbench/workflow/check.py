"""Check a bundle: its SLOs and, with a baseline, its percentiles against the baseline's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rtbench.bundle.summary import read_summary
from rtbench.bundle.summary_types import Summary
from rtbench.errors import ConfigError
from rtbench.slo.compare import Comparison, comparability_warnings, compare
from rtbench.slo.evaluate import Verdict, evaluate
from rtbench.slo.gate import GateOutcome, decide
from rtbench.slo.junit import junit_xml
from rtbench.slo.markdown import markdown_summary
from rtbench.slo.sources import load_slo_file, spec_from_summary
from rtbench.slo.spec import SloSpec
from rtbench.slo.tolerances import from_options

__all__ = [
    "CheckResult",
    "ComparisonResult",
    "check_bundle",
    "compare_bundles",
    "gate",
    "write_check_outputs",
]


@dataclass(frozen=True)
class CheckResult:
    """A gate's verdict, its comparisons, and what to warn about; `outcome.exit_code` is final."""

    bundle: Path
    baseline: Path | None
    outcome: GateOutcome
    verdict: Verdict | None
    comparisons: list[Comparison] | None
    #: Why the baseline may not be comparable (different scenario, load, ...).
    comparability: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComparisonResult:
    """Bundle B's percentiles against bundle A's."""

    comparisons: list[Comparison]
    comparability: tuple[str, ...]


def check_bundle(
    bundle: Path,
    slo_file: Path | None = None,
    baseline: Path | None = None,
    max_regression: Sequence[str] = (),
    regression_floor: str | None = None,
    strict: bool = False,
) -> CheckResult:
    """Gate a bundle on `slo_file`'s SLOs (default: its scenario's) and, optionally, a baseline.
    With neither SLOs nor a baseline there is nothing to check (a `ConfigError`), unless the bundle
    cannot be trusted: a partial run, or one that did no work, is reported as such (exit 3)."""
    summary = read_summary(bundle)
    spec = load_slo_file(slo_file) if slo_file is not None else spec_from_summary(summary, bundle)
    if not spec.rules and baseline is None:
        result = gate(bundle, summary, spec, None, strict=strict)
        if result.outcome.problems:
            return result
        raise ConfigError(
            f"nothing to check: {bundle}'s scenario has no [slo] rules; give --slo FILE or --baseline BUNDLE"
        )
    return gate(bundle, summary, spec, baseline, max_regression, regression_floor, strict)


def gate(
    bundle: Path,
    summary: Summary,
    spec: SloSpec,
    baseline: Path | None,
    max_regression: Sequence[str] = (),
    regression_floor: str | None = None,
    strict: bool = False,
) -> CheckResult:
    """Evaluate `spec` on `summary`, compare with `baseline` if given, and decide the exit code."""
    tolerances = from_options(spec.tolerances, max_regression, regression_floor)
    if baseline is None and (max_regression or regression_floor):
        raise ConfigError("--max-regression and --regression-floor need --baseline")
    comparisons: list[Comparison] | None = None
    comparability: tuple[str, ...] = ()
    if baseline is not None:
        baseline_summary = read_summary(baseline)
        comparability = tuple(comparability_warnings(summary, baseline_summary))
        comparisons = compare(summary, baseline_summary, tolerances)
    verdict = evaluate(spec, summary) if spec.rules else None
    outcome = decide(summary, verdict, comparisons, strict=strict)
    return CheckResult(bundle, baseline, outcome, verdict, comparisons, comparability)


def write_check_outputs(result: CheckResult, junit: Path | None = None, markdown: Path | None = None) -> None:
    """Write the gate's JUnit XML and Markdown summary; an unwritable file is a `ConfigError`."""
    if junit is not None:
        xml = junit_xml(result.outcome, result.verdict, result.comparisons, {"bundle": str(result.bundle)})
        _write(junit, xml, "--junit")
    if markdown is not None:
        text = markdown_summary(
            result.outcome, result.verdict, result.comparisons, str(result.bundle), str(result.baseline or "")
        )
        _write(markdown, text, "--markdown")


def compare_bundles(
    a: Path, b: Path, slo_file: Path | None = None, max_regression: Sequence[str] = (), floor: str | None = None
) -> ComparisonResult:
    """B's latency percentiles against A's, with tolerances from `slo_file` (default: B's scenario)."""
    baseline, current = read_summary(a), read_summary(b)
    spec = load_slo_file(slo_file) if slo_file is not None else spec_from_summary(current, b)
    comparisons = compare(current, baseline, from_options(spec.tolerances, max_regression, floor))
    return ComparisonResult(comparisons, tuple(comparability_warnings(current, baseline)))


def _write(path: Path, text: str, flag: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
