"""Synthetic result bundles for the report tests, written with rtbench's own bundle writers.

The factory is the report benchmark's (`benchmarks/report_render.py`), at a small scale.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "report_render.py"
#: SLOs of the standard test bundle: the first two hold, the third is breached.
SLO = {"ttft": "p95 < 100ms", "delivery": ">= 99.9%", "e2e": "p99 < 100ms"}


def _load_factory() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rtbench_report_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


factory = _load_factory()
Shape = factory.Shape

#: A small run: 40 s, 20 turns/s, 100 sessions, a 5 s ramp and a 3 s stop.
SMALL = Shape(seconds=40, sessions=100, turns_per_s=20, tokens_per_turn=5, ramp_s=5, stop_s=3)


def write_bundle(directory: Path, slo: dict[str, Any] | None = None, **fields: Any) -> Path:
    """Write a SMALL bundle (fields override the shape) with `slo` (default SLO) into `directory`."""
    shape = Shape(**{**SMALL.__dict__, **fields})
    factory.synthesise_bundle(directory, shape, slo=SLO if slo is None else slo)
    return directory


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    """`make_bundle(name="run", slo=SLO, **shape_fields) -> Path` writes a small bundle."""
    return lambda name="run", slo=None, **fields: write_bundle(tmp_path / name, slo, **fields)


@pytest.fixture
def bundle(make_bundle: Callable[..., Path]) -> Path:
    return make_bundle()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle with its report rendered once per module (read it, do not change it)."""
    from rtbench.report import render_report

    directory = write_bundle(tmp_path_factory.mktemp("rendered") / "run")
    assert render_report(directory) == directory / "report.html"
    return directory
