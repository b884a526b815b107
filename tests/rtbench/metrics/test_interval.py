from __future__ import annotations

import json

import msgpack

from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.interval import Bucket, Interval


def _encoded(*values: float) -> bytes:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return h.encode()


def test_wire_round_trip_through_json_and_msgpack() -> None:
    interval = Interval(
        second=1_764_290_000,
        histograms={"ttft": _encoded(1234), "connect": _encoded(0.0)},
        clamped={"connect": 1},
        counters={"failed_timeout": 1},
    )
    # Locust serialises messages with msgpack.dumps / msgpack.loads(raw=False, strict_map_key=False)
    packed = msgpack.dumps(interval.to_wire())
    via_msgpack = Interval.from_wire(msgpack.loads(packed, raw=False, strict_map_key=False))
    via_json = Interval.from_wire(json.loads(json.dumps(interval.to_wire())))
    assert via_msgpack == interval
    assert via_json == interval
    ttft = LatencyHistogram.decode(via_msgpack.histograms["ttft"])
    assert ttft.hdr.get_count_at_value(1234) == 1


def test_from_wire_accepts_bytes_histograms_and_missing_sections() -> None:
    data = _encoded(99)
    wire = {"second": 5, "histograms": {"itl": data}, "counters": {"tokens": 3}}
    assert Interval.from_wire(wire) == Interval(5, {"itl": data}, {}, {"tokens": 3})
    assert Interval.from_wire({"second": 6}) == Interval(6)


def test_bucket_sums_intervals_and_buckets_exactly() -> None:
    a = Bucket()
    a.histogram("e2e").record(100)
    a.histogram("e2e").record(-0.2)  # clamped
    a.count("turns_completed", 2)
    interval = a.to_interval(9)
    assert interval.clamped == {"e2e": 1}
    assert interval.counters == {"turns_completed": 2}

    b = Bucket()
    b.add_interval(interval)
    b.add_interval(interval)
    c = Bucket()
    c.add_bucket(b)
    c.add_bucket(a)
    assert c.histograms["e2e"].total_count == 6
    assert c.clamped() == {"e2e": 3}
    assert c.counters == {"turns_completed": 6}
