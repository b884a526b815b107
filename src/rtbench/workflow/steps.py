"""The steps of a capacity search or a sweep: each a full `rtbench run` in its own process, its
bundle (`step-NN-LOAD/`) and log (`step-NN.log`) in the search's directory."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rtbench.bundle.outdir import claim_out_dir, is_bundle_dir, prepare_out_dir, temporary_of
from rtbench.bundle.summary import read_summary
from rtbench.bundle.summary_types import Summary
from rtbench.errors import ConfigError

__all__ = ["RAMP_TARGET_S", "StepRun", "load_text", "load_flags", "steps_dir", "run_step", "owned_by"]

#: A step's ramp takes about this long (the spawn rate grows with the users).
RAMP_TARGET_S = 5.0
_STEP_DIR = re.compile(r"^step-\d+-\d+(\.\d+)?$")
_STEP_LOG = re.compile(r"^step-\d+\.log$")


@dataclass(frozen=True)
class StepRun:
    """The `rtbench run` options every step shares: the scenario, and how long each step runs
    (a duration of steady state, or a fixed number of requests)."""

    scenario: Path
    duration: str | None = "20s"
    requests: int | None = None
    slo_file: Path | None = None
    target: str | None = None
    workers: str | None = None
    think_time: str | None = None

    def command(self) -> list[str]:
        """`rtbench run SCENARIO ...` without the step's load and bundle."""
        cmd = [sys.executable, "-m", "rtbench.cli", "run", str(self.scenario)]
        for flag, value in (
            ("--duration", self.duration),
            ("--requests", self.requests),
            ("--slo", self.slo_file),
            ("--target", self.target),
            ("--workers", self.workers),
            ("--think-time", self.think_time),
        ):
            if value is not None:
                cmd += [flag, str(value)]
        return cmd


def load_text(load: float) -> str:
    """A step's load as its flags and directory name show it: 4, 2.5."""
    return str(int(load)) if float(load).is_integer() else repr(float(load))


def load_flags(by: str, load: float, spawn_rate: float, arrival: str) -> list[str]:
    """The options that set a step's load: `users` sessions (ramped in about `RAMP_TARGET_S`), or
    an open-loop `rate` of `arrival`s over the scenario's users."""
    if by == "users":
        return ["--users", load_text(load), "--spawn-rate", f"{max(spawn_rate, load / RAMP_TARGET_S):g}"]
    return ["--arrival", arrival, "--rate", load_text(load)]


def owned_by(files: re.Pattern[str]) -> Callable[[Path], bool]:
    """Whether an entry of a search's directory is its own: a step's bundle or log, or a file
    whose name `files` matches (its result, table, chart)."""

    def owned(entry: Path) -> bool:
        if _STEP_DIR.match(entry.name):
            return is_bundle_dir(entry)
        name = temporary_of(entry.name)
        return entry.is_file() and not entry.is_symlink() and bool(files.match(name) or _STEP_LOG.match(name))

    return owned


def steps_dir(out: Path | None, overwrite: bool, owned: Callable[[Path], bool], what: str, name: str) -> Path:
    """The checked directory for the steps: `out`, or reports/<time>-<name>/."""
    if out is not None:
        return prepare_out_dir(out, overwrite, owned, what).path
    return claim_out_dir(Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}").path


def run_step(cmd: list[str], load: float, out_dir: Path, index: int) -> tuple[Path, Summary]:
    """Run one step as its own `rtbench run` process; its bundle and summary. A step that wrote
    no bundle is a one-line `ConfigError` pointing at its log."""
    bundle = out_dir / f"step-{index:02d}-{load_text(load)}"
    log_file = out_dir / f"step-{index:02d}.log"
    with open(log_file, "w") as log:
        proc = subprocess.run(
            [*cmd, "--out", str(bundle)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if not (bundle / "summary.json").exists():
        raise ConfigError(
            f"step {index} (load {load_text(load)}) wrote no bundle (exit {proc.returncode}); see {log_file.name}"
        )
    return bundle, read_summary(bundle)
