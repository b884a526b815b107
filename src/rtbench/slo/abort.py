"""`--abort-on RULE`: stop a run early once an SLO rule is already lost, as k6's `abortOnFail`.

The definition: every tick (1 s), once at least `MIN_TURNS` turns have ended (completed or failed)
in the run so far, each chosen rule is evaluated as `rtbench check` evaluates it on a summary,
over the run so far:

- ratios (delivery, success, connect_success, goodput_ratio, uptime, continuity, bandwidth_saving,
  connection_reuse) from the running counters of every process and phase; a turn still in flight
  counts neither way;
- latency percentiles from the seconds closed so far (about 3 s behind), over the phases the
  summary reports (the steady state, unless `include_ramp`; `connect` and `recovery` over every
  phase). A rule without data yet, such as a steady-state percentile in the ramp, is not breached.

The first rule found breached stops the run. Its bundle is partial, with the reason
"aborted: <rule> breached", and the gate exits 1 (an SLO breached), not 3: the numbers up to the
stop are sound, and the verdict on them is a failure. Counts, resources and goodput per second
depend on the whole run and cannot be judged before it ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from rtbench.bundle.builder import reported_phases
from rtbench.bundle.ratios import goodput_ratio
from rtbench.bundle.sections import build_connect_section, build_delivery_section, build_metrics_section
from rtbench.bundle.summary_types import Summary
from rtbench.bundle.wire import build_wire_section
from rtbench.errors import ConfigError
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.names import FAILURE_KINDS, LATENCY_METRICS, WHOLE_RUN_METRICS, failure_counter
from rtbench.slo.evaluate import evaluate_rule
from rtbench.slo.format import format_quantity
from rtbench.slo.indicators import RATE_PATHS
from rtbench.slo.spec import Rule, SloSpec

__all__ = ["ABORTED", "MIN_TURNS", "AbortOn", "abort_on", "ended_turns"]

#: The start of an aborted run's partial reason: "aborted: delivery breached".
ABORTED = "aborted: "
#: Turns that must have ended before any rule is judged.
MIN_TURNS = 50
#: What can be judged mid-run: latency metrics and ratios.
_JUDGED_MID_RUN = frozenset({*LATENCY_METRICS, *RATE_PATHS, "success"})


def ended_turns(counters: Mapping[str, int]) -> int:
    """Turns completed or failed (of any kind) in `counters`."""
    return counters.get("turns_completed", 0) + sum(counters.get(failure_counter(k), 0) for k in FAILURE_KINDS)


@dataclass(frozen=True)
class AbortOn:
    """The rules to abort on, judged over the run so far. `goodput`: whether the run counts turns
    within per-turn limits (`turns_good`); `include_ramp` as in the run's config."""

    rules: tuple[Rule, ...]
    include_ramp: bool = False
    goodput: bool = False
    min_turns: int = MIN_TURNS

    def __call__(self, aggregator: Aggregator) -> tuple[str, str] | None:
        """The runner's `AbortCheck`: (partial reason, detail) once a rule is breached, else None."""
        counters = aggregator.running_counters()
        if ended_turns(counters) < self.min_turns:
            return None
        histograms: dict[str, LatencyHistogram] = {}
        latency = {rule.name for rule in self.rules if rule.name in LATENCY_METRICS}
        for whole_run in (False, True):
            wanted = {name for name in latency if (name in WHOLE_RUN_METRICS) is whole_run}
            if wanted:
                phases = reported_phases(True) if whole_run else reported_phases(self.include_ramp)
                totals = aggregator.totals(phases)
                histograms.update({name: totals[name] for name in wanted if name in totals})
        return self.judge(counters, histograms)

    def judge(self, counters: Mapping[str, int], histograms: Mapping[str, LatencyHistogram]) -> tuple[str, str] | None:
        """(reason, detail) for the first rule breached by `counters` and `histograms` (latency
        metric -> values so far), or None. Pure: the whole definition is here."""
        ended = ended_turns(counters)
        if ended < self.min_turns:
            return None
        summary = self._summary(counters, histograms, ended)
        for rule in self.rules:
            result = evaluate_rule(rule, summary)
            if result.measured is not None and not result.passed:
                measured = format_quantity(result.measured, result.unit)
                detail = (
                    f"--abort-on: {rule.label} is {measured} over the run so far ({ended:,} turns ended),"
                    f" breaching {rule.expression}"
                )
                return f"{ABORTED}{rule.label} breached", detail
        return None

    def _summary(self, counters: Mapping[str, int], histograms: Mapping[str, LatencyHistogram], ended: int) -> Summary:
        delivery: dict[str, object] = {**build_delivery_section(counters), **build_connect_section(counters)}
        delivery["turns_sent"] = ended + counters.get("turns_cancelled", 0)  # in flight: neither way
        good = goodput_ratio(counters.get("turns_good", 0), ended) if self.goodput else None
        summary = {
            "delivery": delivery,
            "goodput": {"ratio": good},
            "metrics": build_metrics_section(histograms),
            "wire": build_wire_section(counters),
        }
        return cast(Summary, summary)


def abort_on(spec: SloSpec, names: Sequence[str], include_ramp: bool, goodput: bool) -> AbortOn | None:
    """The `AbortOn` for `--abort-on` `names` (an SLO's name, e.g. "ttft", for all its rules, or a
    rule's label, "ttft p95"), from the run's SLOs; None without names. A one-line `ConfigError`
    for a name that is no rule of `spec`, or whose value only the end of the run knows."""
    if not names:
        return None
    if not spec.rules:
        raise ConfigError("--abort-on needs SLOs: the scenario has no [slo] rules; give --slo FILE")
    chosen: list[Rule] = []
    for name in names:
        rules = [rule for rule in spec.rules if name.strip() in (rule.name, rule.label)]
        if not rules:
            known = ", ".join(dict.fromkeys(rule.label for rule in spec.rules))
            raise ConfigError(f"--abort-on {name}: no such SLO rule; the SLOs have {known}")
        if rules[0].name not in _JUDGED_MID_RUN:
            raise ConfigError(
                f"--abort-on {name}: {rules[0].name} is known only at the end of the run;"
                " abort on a latency or ratio SLO (e.g. ttft, delivery, success)"
            )
        chosen += [rule for rule in rules if rule not in chosen]
    return AbortOn(tuple(chosen), include_ramp, goodput)
