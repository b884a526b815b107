"""ProcessState's end of the accounting: every turn still open is counted cancelled, once."""

from __future__ import annotations

from rtbench.config import RunConfig, TargetConfig
from rtbench.load.state import TURN_COUNTERS, ProcessState
from rtbench.metrics.recorder import Recorder


class _Turn:
    def __init__(self, ended: bool = False) -> None:
        self.ended = ended

    def cancel(self) -> bool:
        if self.ended:
            return False
        self.ended = True
        return True


def test_open_turns_are_cancelled_once_and_no_turn_starts_after() -> None:
    state = ProcessState(RunConfig(target=TargetConfig(url="ws://127.0.0.1:1/ws")), Recorder(clock=lambda: 100.0))
    open_turns = [_Turn(), _Turn(), _Turn(ended=True)]  # the last one ended meanwhile (counted by its user)
    state.open_turns.update(open_turns)
    state.recorder.count("turns_sent", 3)
    assert state.cancel_open_turns() == 2
    assert state.stopping and not state.open_turns
    assert state.cancel_open_turns() == 0  # a second flush counts nothing again
    assert all(turn.ended for turn in open_turns)
    (interval,) = state.recorder.take_closed()
    assert interval.counters["turns_cancelled"] == 2
    turns = state.gauges()["turns"]
    assert turns["turns_sent"] == 3 and turns["turns_cancelled"] == 2  # the process's own totals
    assert set(turns) == set(TURN_COUNTERS)
