"""Session recovery against real servers on loopback: resume with nothing lost or repeated, the
recovery time against drops of known timing, uptime and continuity against the injected faults.

The first tests drive a `Session` in this process (gevent, no Locust) against the scripted server
of support/native_script.py; the others are `rtbench run` subprocesses, as in test_user.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from support.native_script import DroppingNativeServer, DropRecord
from support.runs import run_scenario, scenario_text

from rtbench.bundle.hlog import read_hlog
from rtbench.config import RunConfig
from rtbench.load.recovery import UptimeLedger
from rtbench.load.session import Session
from rtbench.load.state import ProcessState
from rtbench.metrics.recorder import Recorder
from rtbench.protocols.events import Done, Event, Token

# -- a Session in this process ------------------------------------------------------------------


class _Probe:
    """A Session with a recorder, a ledger and sinks for its events and lost turns."""

    def __init__(self, url: str, **config: Any) -> None:
        self.recorder = Recorder()
        shared = ProcessState(
            config=RunConfig.from_dict({"target": url, "connect_timeout": 2.0, **config}), recorder=self.recorder
        )
        self.ledger = UptimeLedger(self.recorder.count)
        self.events: list[Event] = []
        self.lost: list[str] = []
        self.session = Session(
            shared, self.ledger, lambda events, t: self.events.extend(events), self.lost.append, lambda *args: None
        )

    def counters(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for interval in self.recorder.take_closed():
            for name, n in interval.counters.items():
                totals[name] = totals.get(name, 0) + n
        return totals

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            gevent.sleep(0.01)


def test_a_resumed_turn_gets_every_frame_once_in_seq_order() -> None:
    """Dropped after the 3rd of 10 tokens (20 ms apart); the resume, answered 0.3 s later when the
    turn has ended on the server, replays exactly frames 4..11 (7 tokens and done)."""
    with DroppingNativeServer(
        tokens=10, drop_on_prompt=1, drop_after_tokens=3, resume_delay_s=0.3, sleep=gevent.sleep
    ) as server:
        probe = _Probe(server.url, recovery_backoff_initial=0.02, recovery_jitter=0.0)
        session = probe.session
        assert session.open()
        session.send(session.adapter.prompt("t1", "hello there"))
        probe.wait_for(lambda: any(type(e) is Done for e in probe.events))
        [drop] = server.drops
        session.close()
    tokens = [e for e in probe.events if type(e) is Token]
    assert [t.seq for t in tokens] == list(range(1, 11))
    assert "".join(t.text for t in tokens) == "".join(f"tok{i} " for i in range(10))
    assert (drop.last_seq, drop.replayed) == (3, 8)
    counters = probe.counters()
    assert counters["session_drops"] == counters["resumes_ok"] == 1
    assert counters.get("frames_duplicate", 0) == 0 and counters.get("sessions_lost", 0) == 0
    assert probe.lost == []  # the turn in flight was never given up


def test_reconnects_that_all_fail_give_up_and_leave_the_session_down() -> None:
    with DroppingNativeServer(sleep=gevent.sleep) as server:
        probe = _Probe(server.url, recovery_backoff_initial=0.01, recovery_max_retries=3)
        assert probe.session.open()
    # the server is gone: its shutdown closed the connection and the port refuses connections
    probe.wait_for(lambda: probe.lost != [])
    assert not probe.session.up
    assert probe.lost == ["no reconnect in 3 attempts"]
    counters = probe.counters()
    assert counters["session_drops"] == 1 and counters["recovery_gave_up"] == 1
    assert counters["recovery_attempts"] == counters["connect_failed"] == counters["connect_failed_refused"] == 3
    assert counters["sessions_started"] == counters["sessions_lost"] == 1
    assert (probe.ledger.held, probe.ledger.down) == (1, 1)
    probe.session.close()
    assert (probe.ledger.held, probe.ledger.down) == (0, 0)


# -- whole runs ---------------------------------------------------------------------------------


def run(
    tmp_path: Path,
    url: str,
    target_extra: str = "",
    tables: str = "",
    users: int = 4,
    think_time: str = "0.1s",
    *options: str,
) -> dict[str, Any]:
    result, summary = run_scenario(
        tmp_path, scenario_text(url, target_extra, users=users, think_time=think_time, tables=tables), *options
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    return summary


def all_phases(summary: dict[str, Any], metric: str) -> int:
    return sum(phase.get(metric, {}).get("count", 0) for phase in summary["metrics_by_phase"].values())


def test_resume_after_reference_server_drops_loses_and_repeats_no_frame(
    reference_server_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Half of the connections dropped 0.3-1.2 s after they open, mostly mid-turn (20 tokens);
    two worker processes, whose counters, held time and recovery samples the master merges."""
    server = reference_server_factory(
        "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20", "--drop-rate", "0.5", "--drop-after-s", "0.3:1.2"
    )
    summary = run(tmp_path, server.ws_url, "", "", 8, "0.05s", "--workers", "2")
    metrics = server.metrics()
    delivery, recovery = summary["delivery"], summary["delivery"]["recovery"]
    assert 2 <= recovery["drops"] <= metrics['rtref_faults_total{kind="drop"}'], (recovery, metrics)
    assert recovery["resumed"] == recovery["drops"] == metrics['rtref_resumes_total{result="ok"}']
    assert metrics["rtref_replayed_frames_total"] > 0  # turns were cut and replayed
    assert delivery["failed"] == {"timeout": 0, "error": 0, "incomplete": 0, "seq_gap": 0, "empty": 0}, delivery
    assert delivery["duplicates"] == delivery["seq_gaps"] == 0
    # every completed turn saw its 20 tokens exactly once: 19 inter-token gaps each
    assert all_phases(summary, "itl") == 19 * delivery["turns_completed"] > 0
    assert all_phases(summary, "recovery") == recovery["resumed"]
    assert delivery["continuity_ratio"] == 1.0 and recovery["sessions_lost"] == 0
    assert 0.9 < delivery["uptime_ratio"] < 1.0
    phases = summary["phases"]  # each of the 8 sessions held from about the start to the stop
    assert recovery["session_s"] > 0.75 * 8 * (phases["stop"]["start"] - phases["ramp"]["start"]), recovery


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], list[DropRecord], Path]]:
    """4 users, each dropped once mid-turn; resumes answered after 0.2, 0.3, 0.4, 0.5 s, the 2nd
    and 4th refused. Backoff without jitter: the first reconnect goes 100 ms after the drop."""
    tmp_path = tmp_path_factory.mktemp("scripted")
    with DroppingNativeServer(
        drop_sessions=4, resume_delay_s=lambda n: 0.2 + 0.1 * n, refuse_resume=lambda n: n % 2 == 1
    ) as server:
        summary = run(tmp_path, server.url, tables='[recovery]\nbackoff_initial = "100ms"\njitter = 0.0\n')
        yield summary, list(server.drops), tmp_path / "bundle"


def test_recovery_is_timed_from_the_drop_to_the_resumed_frame(
    scripted_run: tuple[dict[str, Any], list[DropRecord], Path],
) -> None:
    summary, drops, bundle = scripted_run
    resumed = [d for d in drops if not d.refused]
    assert len(drops) == 4 and len(resumed) == 2 and all(d.answered_at is not None for d in drops)
    expected_ms = sorted((d.answered_at - d.dropped_at) * 1000 for d in resumed)  # type: ignore[operator]
    measured_ms = sorted(
        item.value_iterated_to / 1000
        for _, histogram in read_hlog(bundle / "recovery.hlog")
        for item in histogram.hdr.get_recorded_iterator()
        for _ in range(item.count_at_value_iterated_to)
    )
    assert len(measured_ms) == 2
    for measured, expected in zip(measured_ms, expected_ms, strict=False):
        assert abs(measured - expected) < 100, (measured_ms, expected_ms)
    assert expected_ms[0] > 300  # 100 ms backoff + 200 ms delay: the figure is not a constant


def test_uptime_and_continuity_match_the_injected_faults(
    scripted_run: tuple[dict[str, Any], list[DropRecord], Path],
) -> None:
    summary, drops, _ = scripted_run
    delivery = summary["delivery"]
    recovery = delivery["recovery"]
    assert (recovery["drops"], recovery["resumed"], recovery["resume_failed"]) == (4, 2, 2)
    # 4 first sessions, 2 fresh ones after the refusals, which lost their conversations
    assert (recovery["sessions_started"], recovery["sessions_lost"]) == (6, 2)
    assert delivery["continuity_ratio"] == round(4 / 6, 6)
    assert delivery["failed"]["incomplete"] == 2  # the turns cut by a refused resume
    assert delivery["failed"]["timeout"] == delivery["failed"]["seq_gap"] == delivery["duplicates"] == 0
    # down from each drop to the server's answer (resumed, or refused and carried on fresh)
    down_s = sum(d.answered_at - d.dropped_at for d in drops)  # type: ignore[operator]
    assert abs(recovery["downtime_s"] - down_s) < 0.1, (recovery, down_s)
    phases = summary["phases"]
    held_s = phases["stop"]["start"] - phases["ramp"]["start"]  # at least ramp and steady, per user
    assert 4 * (held_s - 1.5) < recovery["session_s"] < 4 * (held_s + 6.0), (recovery, held_s)
    expected_uptime = 1 - recovery["downtime_s"] / recovery["session_s"]
    assert delivery["uptime_ratio"] == pytest.approx(expected_uptime, abs=1e-4)  # seconds are rounded
    assert delivery["uptime_ratio"] < 0.99


@pytest.mark.parametrize(
    ("path", "target_extra", "tables"),
    [("/v1/realtime", 'protocol = "openai-realtime"', ""), ("/ws", "", "[recovery]\nenabled = false\n")],
    ids=["protocol-without-resume", "recovery-disabled"],
)
def test_without_resume_a_drop_fails_the_turn_and_starts_a_fresh_session(
    reference_server_factory: Callable[..., Any], tmp_path: Path, path: str, target_extra: str, tables: str
) -> None:
    """Every connection dropped 0.5-1 s after it opens."""
    server = reference_server_factory(
        "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20", "--drop-rate", "1", "--drop-after-s", "0.5:1.0"
    )
    summary = run(tmp_path, f"ws://127.0.0.1:{server.port}{path}", target_extra, tables)
    delivery, recovery = summary["delivery"], summary["delivery"]["recovery"]
    users = 4
    assert recovery["drops"] >= users and recovery["resumed"] == 0
    assert recovery["sessions_lost"] == recovery["drops"]
    assert recovery["drops"] <= recovery["sessions_started"] <= users + recovery["drops"]
    assert delivery["failed"]["incomplete"] >= 1 and delivery["failed"]["error"] == 0
    assert all_phases(summary, "recovery") == 0
    assert delivery["continuity_ratio"] < 0.5
