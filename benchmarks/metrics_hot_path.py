"""Micro-benchmark of the per-record hot path and the per-second costs of the metrics layer.

Run: PYTHONPATH=src .venv/bin/python benchmarks/metrics_hot_path.py
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from hdrh.histogram import HdrHistogram

from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.phases import Phase
from rtbench.metrics.recorder import Recorder
from rtbench.metrics.turn import TurnTimer

N = 200_000


def _per_call_ns(fn: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / calls * 1e9


def main() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(9.5, 1.0) for _ in range(N)]
    ints = [round(v) for v in values]

    hdr = HdrHistogram(1, 3_600_000_000, 3)
    hist = LatencyHistogram()
    recorder = Recorder()

    def raw() -> None:
        for v in ints:
            hdr.record_value(v)

    def wrapped() -> None:
        for v in values:
            hist.record(v)

    def recorded() -> None:
        for v in values:
            recorder.record("ttft", v)

    print(f"hdrh record_value (int)          {_per_call_ns(raw, N):8.0f} ns/record")
    print(f"LatencyHistogram.record (float)  {_per_call_ns(wrapped, N):8.0f} ns/record")
    print(f"Recorder.record (time.time)      {_per_call_ns(recorded, N):8.0f} ns/record")

    frames = 20
    turns = 5_000

    def timed_turns() -> None:
        for t in range(turns):
            timer = TurnTimer(t * 1.0)
            for f in range(frames):
                timer.on_content(t + 0.05 + f * 0.01, 1)
            recorder.record_turn(timer.finish(t + 0.3))

    per_turn = _per_call_ns(timed_turns, turns)
    print(
        f"TurnTimer + record_turn          {per_turn:8.0f} ns/turn of {frames} frames "
        f"({per_turn / frames:.0f} ns/frame)"
    )

    intervals = []
    start = time.perf_counter()
    intervals.extend(recorder.take_closed())
    encoded = sum(len(i.histograms) for i in intervals)
    print(
        f"take_closed: {len(intervals)} seconds, {encoded} histograms encoded in "
        f"{(time.perf_counter() - start) * 1e3:.2f} ms"
    )

    agg = Aggregator(lambda s: Phase.STEADY, grace_s=0)
    start = time.perf_counter()
    for interval in intervals:
        agg.add(interval)
    agg.close_all()
    print(f"Aggregator: added and closed them in {(time.perf_counter() - start) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
