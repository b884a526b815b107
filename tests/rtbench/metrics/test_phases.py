from __future__ import annotations

import pytest

from rtbench.metrics.phases import Phase, PhaseBoundaries


def test_phase_values_are_their_names() -> None:
    assert [p.value for p in Phase] == ["ramp", "steady", "stop"]
    assert Phase("steady") is Phase.STEADY
    assert Phase.STOP == "stop"


def test_everything_is_ramp_until_the_ramp_end_is_known() -> None:
    bounds = PhaseBoundaries()
    assert bounds(5) is Phase.RAMP
    assert bounds.phase_of(10**9) is Phase.RAMP


@pytest.mark.parametrize(
    ("second", "phase"),
    [
        (99, Phase.RAMP),
        (100, Phase.RAMP),  # [100, 101) holds the ramp end 100.4
        (101, Phase.STEADY),
        (199, Phase.STEADY),  # [199, 200) ends exactly at the stop
        (200, Phase.STOP),
        (260, Phase.STOP),
    ],
)
def test_straddling_seconds_go_to_the_transition(second: int, phase: Phase) -> None:
    assert PhaseBoundaries(ramp_end=100.4, stop_start=200.0)(second) is phase


def test_whole_second_boundaries() -> None:
    bounds = PhaseBoundaries(ramp_end=100.0, stop_start=199.5)
    assert bounds(99) is Phase.RAMP
    assert bounds(100) is Phase.STEADY  # starts at the ramp end
    assert bounds(198) is Phase.STEADY
    assert bounds(199) is Phase.STOP


def test_stop_before_the_ramp_ended() -> None:
    bounds = PhaseBoundaries(ramp_end=None, stop_start=50.0)
    assert bounds(49) is Phase.RAMP
    assert bounds(50) is Phase.STOP


def test_spans_of_a_complete_run() -> None:
    spans = PhaseBoundaries(ramp_end=110.0, stop_start=160.0).spans(100.0, 165.0)
    assert spans == {
        "ramp": {"start": 100.0, "end": 110.0},
        "steady": {"start": 110.0, "end": 160.0},
        "stop": {"start": 160.0, "end": 165.0},
    }


def test_spans_of_a_run_cut_during_the_ramp() -> None:
    spans = PhaseBoundaries().spans(100.0, 104.0)
    assert spans == {
        "ramp": {"start": 100.0, "end": 104.0},
        "steady": {"start": None, "end": None},
        "stop": {"start": None, "end": None},
    }
    stopped = PhaseBoundaries(stop_start=103.0).spans(100.0, 104.0)
    assert stopped["ramp"] == {"start": 100.0, "end": 103.0}
    assert stopped["steady"] == {"start": None, "end": None}
    assert stopped["stop"] == {"start": 103.0, "end": 104.0}


def test_spans_while_running() -> None:
    spans = PhaseBoundaries(ramp_end=110.0).spans(100.0, None)
    assert spans["steady"] == {"start": 110.0, "end": None}
