"""GC tuning: freeze once a ramp of sessions has settled, unfreeze after a fall (fake collector)."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any

from reference_server.gctune import THRESHOLDS, GcTuner


class FakeGc(SimpleNamespace):
    def __init__(self) -> None:
        super().__init__(calls=[])

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, *args))


def run(tuner: GcTuner, counts: list[int]) -> list[str | None]:
    return [tuner.tick(n) for n in counts]


def test_start_sets_thresholds_and_freezes_start_up_objects() -> None:
    fake = FakeGc()
    GcTuner(collector=fake).start()  # type: ignore[arg-type]
    assert fake.calls == [("set_threshold", *THRESHOLDS), ("collect",), ("freeze",)]


def test_freezes_once_the_ramp_settles() -> None:
    fake = FakeGc()
    tuner = GcTuner(min_growth=500, settle_ticks=2, collector=fake)  # type: ignore[arg-type]
    actions = run(tuner, [0, 1000, 3000, 5000, 5002, 5001, 5003, 5003])
    assert actions == [None, None, None, None, None, "freeze", None, None]
    assert fake.calls == [("collect",), ("freeze",)] and tuner.frozen_at == 5001


def test_small_growth_is_not_worth_a_freeze() -> None:
    tuner = GcTuner(min_growth=500, collector=FakeGc())  # type: ignore[arg-type]
    assert run(tuner, [100, 100, 100, 100]) == [None] * 4


def test_unfreezes_after_a_fall_and_can_freeze_again() -> None:
    fake = FakeGc()
    tuner = GcTuner(min_growth=500, settle_ticks=1, collector=fake)  # type: ignore[arg-type]
    actions = run(tuner, [4000, 4000, 3000, 1900, 1900, 2600, 2600, 2600])
    # After the fall, the survivors settle: one collection reclaims the closed sessions' cycles and
    # they are frozen again; a later ramp of 700 more is frozen in turn.
    assert actions == [None, "freeze", None, "unfreeze", "freeze", None, "freeze", None]
    assert [c[0] for c in fake.calls] == ["collect", "freeze", "unfreeze", "collect", "freeze", "collect", "freeze"]


def test_with_the_real_collector() -> None:
    tuner = GcTuner(min_growth=1, settle_ticks=1)
    before = gc.get_freeze_count()
    try:
        assert run(tuner, [10, 10]) == [None, "freeze"]
        assert gc.get_freeze_count() >= before
        assert tuner.tick(1) == "unfreeze"
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
