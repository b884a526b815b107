"""Fault decisions: off by default, seeded, and stalls aligned on the wall clock."""

from __future__ import annotations

import time

import pytest
import websocket
from support.clients import NativeClient
from support.server import running_server

from reference_server.config import FaultConfig
from reference_server.faults import FaultInjector


def test_everything_off_by_default() -> None:
    faults = FaultInjector(FaultConfig(), seed=1)
    assert not faults.stalls
    assert all(faults.drop_delay() is None for _ in range(100))
    assert all(faults.error_frame(20) is None for _ in range(100))


def test_drop_rate_and_delay_range() -> None:
    faults = FaultInjector(FaultConfig(drop_rate=0.25, drop_after_s=(2.0, 3.0)), seed=1)
    delays = [faults.drop_delay() for _ in range(4000)]
    dropped = [d for d in delays if d is not None]
    assert len(dropped) / len(delays) == pytest.approx(0.25, abs=0.03)
    assert all(2.0 <= d <= 3.0 for d in dropped)


@pytest.mark.parametrize(
    ("population", "fraction", "count"),
    [(100, 0.1, 10), (53, 0.1, 5), (47, 0.1, 5), (45, 0.1, 4), (7, 1.0, 7), (7, 0.0, 0), (0, 0.5, 0), (3, 0.1, 0)],
)
def test_storm_victims_are_the_rounded_fraction(population: int, fraction: float, count: int) -> None:
    victims = FaultInjector(FaultConfig(), seed=1).storm_victims(range(population), fraction)
    assert len(victims) == len(set(victims)) == count
    assert set(victims) <= set(range(population))


def test_storm_victims_are_uniform_and_seeded() -> None:
    faults = FaultInjector(FaultConfig(), seed=3)
    hits = [0] * 20
    for _ in range(4000):
        for victim in faults.storm_victims(range(20), 0.25):
            hits[victim] += 1
    assert all(abs(h - 1000) < 150 for h in hits)  # each picked with p = 5/20 in every storm
    again = FaultInjector(FaultConfig(), seed=3)
    assert FaultInjector(FaultConfig(), seed=3).storm_victims(range(100), 0.1) == again.storm_victims(range(100), 0.1)


def test_error_frame_index_is_within_the_turn() -> None:
    faults = FaultInjector(FaultConfig(error_rate=1.0), seed=1)
    indexes = {faults.error_frame(5) for _ in range(500)}
    assert indexes == {0, 1, 2, 3, 4}


def test_same_seed_same_decisions() -> None:
    cfg = FaultConfig(drop_rate=0.5, error_rate=0.5)
    a, b, c = FaultInjector(cfg, 9), FaultInjector(cfg, 9), FaultInjector(cfg, 9, worker=1)
    first = [(a.drop_delay(), a.error_frame(10)) for _ in range(50)]
    assert first == [(b.drop_delay(), b.error_frame(10)) for _ in range(50)]
    assert first != [(c.drop_delay(), c.error_frame(10)) for _ in range(50)]


@pytest.mark.parametrize(
    ("wall", "expected_wait"), [(100.0, 0.2), (100.15, 0.05), (100.2, 0.0), (100.9, 0.0), (101.05, 0.15)]
)
def test_stall_windows_start_every_period(wall: float, expected_wait: float) -> None:
    faults = FaultInjector(FaultConfig(stall_ms=200, stall_every_s=1.0), seed=1, wall_clock=lambda: wall)
    assert faults.stalls
    assert faults.stall_resume_at(50.0) - 50.0 == pytest.approx(expected_wait)


# -- end to end ------------------------------------------------------------------------------


def test_dropped_connection_stays_resumable() -> None:
    with running_server(
        "--ttft-ms", "0", "--itl-ms", "0", "--tokens", "3", "--drop-rate", "1", "--drop-after-s", "0.2:0.3"
    ) as server:
        client = NativeClient(server.ws_url)
        frames = client.turn("t1")
        started = time.monotonic()
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            client.recv()
        lasted = time.monotonic() - started
        again = NativeClient(server.ws_url)
        again.send(type="resume", resume_token=client.session["resume_token"], last_seq=frames[-1]["seq"])
        resumed = again.recv()
        again.close()
        assert server.metrics()['rtref_faults_total{kind="drop"}'] >= 1
    assert lasted < 0.5
    assert resumed["type"] == "resumed" and resumed["replayed"] == 0


def test_stalls_hold_all_sending() -> None:
    with running_server(
        "--ttft-ms", "0", "--itl-ms", "10", "--tokens", "60", "--stall-ms", "150", "--stall-every-s", "0.5"
    ) as server:
        with NativeClient(server.ws_url) as client:
            client.prompt("t")
            arrivals = []
            while True:
                frame = client.recv()
                arrivals.append(time.monotonic())
                if frame["type"] == "done":
                    break
        stalled = server.metrics()['rtref_faults_total{kind="stall"}']
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) >= 0.12  # a 150 ms stall window fell inside the 600 ms turn
    assert stalled >= 1


def test_injected_errors_end_turns_without_done() -> None:
    with running_server("--ttft-ms", "0", "--itl-ms", "0", "--tokens", "4", "--error-rate", "1") as server:
        with NativeClient(server.ws_url) as client:
            first = client.turn("a")
            second = client.turn("b")
        injected = server.metrics()['rtref_errors_total{code="injected"}']
    for frames, turn_id in ((first, "a"), (second, "b")):
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "injected" and frames[-1]["id"] == turn_id
        assert all(f["type"] == "token" for f in frames[:-1])
    assert injected == 2
