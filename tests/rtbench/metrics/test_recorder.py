from __future__ import annotations

import pytest
from support.clock import FakeClock

from rtbench.metrics.histogram import HIGHEST_US, LatencyHistogram
from rtbench.metrics.names import ErrorCodeNames
from rtbench.metrics.recorder import Interval, Recorder
from rtbench.metrics.turn import TurnTimer


def _decoded(interval: Interval, metric: str) -> LatencyHistogram:
    return LatencyHistogram.decode(interval.histograms[metric])


def test_intervals_split_on_wall_clock_seconds() -> None:
    clock = FakeClock(1000.2)
    rec = Recorder(clock)
    rec.record("ttft", 100)
    rec.count("turns_sent")
    clock.now = 1000.999
    rec.record("ttft", 200)
    clock.now = 1001.0
    rec.record("ttft", 300, count=4)
    rec.count("turns_sent", 2)
    clock.now = 1003.5
    rec.record("connect", 50)

    closed = rec.take_closed(1003.7)
    assert [i.second for i in closed] == [1000, 1001]
    first, second = closed
    assert _decoded(first, "ttft").total_count == 2
    assert _decoded(first, "ttft").max_us == 200
    assert first.counters == {"turns_sent": 1}
    assert _decoded(second, "ttft").total_count == 4
    assert second.counters == {"turns_sent": 2}
    assert rec.pending_seconds == [1003]  # the current second stays
    assert rec.take_closed(1003.99) == []

    clock.now = 1003.8
    rec.record("connect", 70)  # still goes into the open second 1003
    (last,) = rec.take_closed()  # final flush takes everything
    assert last.second == 1003
    assert _decoded(last, "connect").total_count == 2
    assert rec.pending_seconds == []


def test_record_after_a_second_was_taken_starts_a_new_interval() -> None:
    clock = FakeClock(50.1)
    rec = Recorder(clock)
    rec.record("e2e", 10)
    (taken,) = rec.take_closed(51.0)
    rec.record("e2e", 20)  # the clock stepped back: not lost, shipped as another interval
    (again,) = rec.take_closed(51.0)
    assert taken.second == again.second == 50
    assert _decoded(again, "e2e").total_count == 1


def test_record_turn() -> None:
    clock = FakeClock(7.5)
    rec = Recorder(clock)
    timer = TurnTimer(0.0)
    timer.on_content(0.050, 1)
    timer.on_content(0.060, 1)
    timer.on_content(0.080, 2)
    rec.record_turn(timer.finish(0.081))
    rec.record_turn(timer.finish(0.081, usage_tokens=5))
    (interval,) = rec.take_closed()
    assert interval.counters == {
        "turns_completed": 2,
        "tokens": 9,
        "token_count_frames": 1,
        "token_count_usage": 1,
    }
    ttft = _decoded(interval, "ttft")
    assert ttft.total_count == 2 and ttft.hdr.get_count_at_value(50_000) == 2
    itl = _decoded(interval, "itl")
    assert itl.total_count == 6  # 3 tokens after the first, per turn
    assert itl.hdr.get_count_at_value(10_000) == 6
    tpot = _decoded(interval, "tpot")
    assert tpot.percentiles([0.0, 100.0]) == {
        0.0: tpot.hdr.get_lowest_equivalent_value(7750),
        100.0: tpot.hdr.get_highest_equivalent_value(10_333),
    }
    assert _decoded(interval, "e2e").total_count == 2


def test_clamped_counts_travel_with_the_interval() -> None:
    rec = Recorder(FakeClock(3.0))
    rec.record("connect", HIGHEST_US * 2)
    rec.record("connect", -0.1, count=2)
    rec.record("ttft", 5000)
    (interval,) = rec.take_closed()
    assert interval.clamped == {"connect": 3}


@pytest.mark.parametrize("now", [None, 10**10])
def test_take_closed_on_empty_recorder(now: float | None) -> None:
    assert Recorder(FakeClock(1.0)).take_closed(now) == []


def test_error_codes_are_counted_under_bounded_names() -> None:
    rec = Recorder(FakeClock(5.0), ErrorCodeNames(kept=2))
    for n in range(5000):
        rec.count_error(f"server code #{n}")
    rec.count_error("seq_gap")
    [interval] = rec.take_closed()
    assert interval.counters == {
        "error_frame_server_code_0": 1,
        "error_frame_server_code_1": 1,
        "error_frame_other": 4998,
        "error_frame_seq_gap": 1,
    }


def test_record_turn_counts_input_tokens_reasoning_and_ttft_by_input_size() -> None:
    rec = Recorder(FakeClock(7.5))
    for sent_input, usage_input in ((300, None), (700, 260), (0, None)):
        timer = TurnTimer(0.0)
        timer.on_content(0.010, 2, reasoning=True)
        timer.on_content(0.030, 1)
        rec.record_turn(timer.finish(0.04, None, usage_input, sent_input, "estimate"))
    (interval,) = rec.take_closed()
    counters = interval.counters
    # the third turn knew no input count: it counts no input tokens and claims no method
    assert counters["input_tokens"] == 300 + 260
    assert counters["input_token_method_estimate"] == 1 and counters["input_token_method_usage"] == 1
    assert "input_token_method_tokenizer" not in counters
    assert counters["reasoning_tokens"] == 6 and counters["tokens"] == 9
    assert _decoded(interval, "ttft_answer").total_count == 3
    assert _decoded(interval, "ttft@in:256").total_count == 2  # 300 and 260 share the 256 bucket
    assert "ttft@in:512" not in interval.histograms and _decoded(interval, "ttft").total_count == 3
    assert rec.totals["input_tokens"] == 560 and rec.totals["reasoning_tokens"] == 6
