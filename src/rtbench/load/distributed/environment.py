"""Build the Locust environment of one load process, with rtbench's state attached."""

from __future__ import annotations

import gc
import os
import random
import resource
from collections.abc import Callable
from typing import Any

import psutil
from locust.env import Environment

from rtbench.config import RunConfig
from rtbench.load.monitors import ClientCpuSampler
from rtbench.load.starvation import MachineCpuSampler, RunQueueSampler
from rtbench.load.state import ProcessState
from rtbench.load.user import ChatUser
from rtbench.metrics.recorder import Recorder

__all__ = [
    "attach_state",
    "build_environment",
    "new_environment",
    "tune_gc",
    "freeze_gc",
    "raise_open_file_limit",
    "client_gauges",
]

GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Fewer, cheaper collections: full GC pauses reached 170 ms at 10k sessions by default."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_gc(**_: Any) -> None:
    """Move everything alive now out of the collector's reach (call once the ramp is done)."""
    gc.collect()
    gc.freeze()


def raise_open_file_limit() -> int:
    """Raise this process's open-file soft limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def client_gauges() -> Callable[[], dict[str, float | None]]:
    """A sampler of this load process's own CPU percent and RSS, its run-queue wait (ms per
    second runnable without a core, and mean ms per run) and the machine's CPU percent of all
    cores, for the self-check (`rtbench.load.starvation`)."""
    cpu = ClientCpuSampler()
    process = psutil.Process(os.getpid())
    run_queue = RunQueueSampler(process.pid)
    machine = MachineCpuSampler()

    def sample() -> dict[str, float | None]:
        wait = run_queue.sample()
        return {
            "client_cpu": cpu.sample(),
            "client_rss_bytes": float(process.memory_info().rss),
            "client_runq_ms": wait.ms_per_s if wait is not None else None,
            "client_runq_delay_ms": wait.delay_ms if wait is not None else None,
            "machine_cpu": machine.sample(),
        }

    return sample


def new_environment(stop_timeout: float | None = None) -> Environment:
    """A fresh Locust environment (fresh event hooks) running `ChatUser`; no rtbench state yet."""
    tune_gc()
    raise_open_file_limit()
    return Environment(user_classes=[ChatUser], stop_timeout=stop_timeout)


def attach_state(
    environment: Environment,
    config: RunConfig,
    seed: int | None = None,
    freeze_on_spawn: bool = False,
    process_index: int = 0,
) -> ProcessState:
    """Give `environment` the rtbench state its users need for `config`, as load process
    `process_index` of the run."""
    environment.stop_timeout = config.load.stop_grace
    state = ProcessState(config=config, recorder=Recorder(), rng=random.Random(seed), process_index=process_index)
    state.idle_rss_bytes = float(psutil.Process(os.getpid()).memory_info().rss)
    environment.rtbench = state  # type: ignore[attr-defined]
    if freeze_on_spawn:  # workers; the local runner freezes once its ramp has settled
        environment.events.spawning_complete.add_listener(freeze_gc)
    return state


def build_environment(
    config: RunConfig, seed: int | None = None, freeze_on_spawn: bool = False
) -> tuple[Environment, ProcessState]:
    """A fresh Locust environment running `ChatUser` for `config`, with its state attached."""
    environment = new_environment(config.load.stop_grace)
    return environment, attach_state(environment, config, seed, freeze_on_spawn)
