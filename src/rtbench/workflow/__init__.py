"""The workflows under the CLI: run a benchmark, check a bundle, search capacity, serve a target.

Functions that take typed inputs and return data; they never print, and report progress only
through the callbacks they are given (the CLI renders). Locust is imported only when a run starts.
"""

from __future__ import annotations

from rtbench.workflow.capacity import CapacityRequest, CapacityResult, search_capacity
from rtbench.workflow.check import (
    CheckResult,
    ComparisonResult,
    check_bundle,
    compare_bundles,
    gate,
    write_check_outputs,
)
from rtbench.workflow.plan import RunPlan, find_scenario, plan_run
from rtbench.workflow.run import LiveFeed, RunHooks, RunOutcome, default_out_dir, render_run_report, run_benchmark
from rtbench.workflow.served import ServedTarget, served_target
from rtbench.workflow.worker import join_master

__all__ = [
    "CapacityRequest",
    "CapacityResult",
    "CheckResult",
    "ComparisonResult",
    "LiveFeed",
    "RunHooks",
    "RunOutcome",
    "RunPlan",
    "ServedTarget",
    "check_bundle",
    "compare_bundles",
    "default_out_dir",
    "find_scenario",
    "gate",
    "join_master",
    "plan_run",
    "render_run_report",
    "run_benchmark",
    "search_capacity",
    "served_target",
    "write_check_outputs",
]
