"""rtbench.metrics: pure latency measurement (no I/O, clocks injected).

histogram (LatencyHistogram, summarize_ms), turn (TurnTimer -> TurnResult), recorder (per-process
per-second Recorder), interval (Interval wire form, Bucket), aggregate (master-side Aggregator),
phases (Phase, PhaseBoundaries), names (metric and counter names with definitions).
"""
