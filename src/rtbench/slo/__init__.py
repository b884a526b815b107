"""SLOs (pure): the `[slo]` spec, its evaluation against a bundle, baseline comparison, the gate.

- `spec`: parse an `[slo]` table into rules (`SloSpec`); `turn_limits` for goodput.
- `sources`: read a spec from an `--slo` file or from a bundle's stored scenario.
- `evaluate`: `evaluate(spec, summary) -> Verdict` of `RuleResult`s.
- `compare`: `compare(current, baseline, tolerances) -> list[Comparison]`.
- `gate`: `decide(...) -> GateOutcome` (the exit code); `junit` and `markdown` render it.
"""

from __future__ import annotations

from rtbench.slo.compare import Comparison, compare
from rtbench.slo.evaluate import RuleResult, Verdict, evaluate
from rtbench.slo.gate import GateOutcome, decide
from rtbench.slo.sources import load_slo_file, spec_from_summary
from rtbench.slo.spec import Rule, SloSpec, Threshold, parse_slo_table, turn_limits
from rtbench.slo.tolerances import Tolerances

__all__ = [
    "Comparison",
    "GateOutcome",
    "Rule",
    "RuleResult",
    "SloSpec",
    "Threshold",
    "Tolerances",
    "Verdict",
    "compare",
    "decide",
    "evaluate",
    "load_slo_file",
    "parse_slo_table",
    "spec_from_summary",
    "turn_limits",
]
