"""The absolute-time scheduler on a real event loop (no sockets)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import pytest
import uvloop
from support.clients import NativeClient
from support.server import running_server

from reference_server.latency import Distribution, FrameSlot, LatencyProfile, plan_turn
from reference_server.metrics import ServerMetrics, Tally
from reference_server.streaming import BURST_YIELD_EVERY, Cork, SlotPool, run_turn


def profile(ttft: float, itl: float, tokens: int, per_frame: int = 1) -> LatencyProfile:
    return LatencyProfile(Distribution.fixed(ttft), Distribution.fixed(itl), Distribution.fixed(tokens), per_frame)


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_frames_leave_at_absolute_deadlines() -> None:
    async def scenario() -> list[float]:
        sent: list[float] = []

        async def send(slot: FrameSlot) -> None:
            sent.append(time.monotonic())
            time.sleep(0.004)  # a slow send must not push later frames back

        metrics = ServerMetrics()
        origin = time.monotonic()
        await run_turn(plan_turn(profile(30, 10, 6), None), origin, send, Tally(), metrics)
        return [t - origin for t in sent]

    offsets = asyncio.run(scenario())
    planned = [0.03, 0.04, 0.05, 0.06, 0.07, 0.08]
    errors = [actual - plan for actual, plan in zip(offsets, planned, strict=False)]
    assert min(errors) >= 0.0  # never early
    assert max(errors) < 0.004  # not chained: the 4 ms sends do not accumulate


def test_counts_go_to_the_tally_and_lateness_to_the_histogram() -> None:
    metrics, tally = ServerMetrics(), Tally()

    async def send(slot: FrameSlot) -> None:
        pass

    result = asyncio.run(
        run_turn(plan_turn(profile(5, 1, 7, per_frame=3), None), time.monotonic(), send, tally, metrics)
    )
    assert (result.tokens, result.frames, result.injected) == (7, 3, False)
    assert (tally.frames, tally.tokens) == (3, 7)
    text = metrics.render().decode()
    assert 'rtref_send_lateness_seconds_count{frame="first"} 1.0' in text
    assert 'rtref_send_lateness_seconds_count{frame="next"} 2.0' in text
    assert 'rtref_frames_total{protocol="native"} 0.0' in text  # this tally was not one of metrics' own


def test_burst_yields_to_other_sessions() -> None:
    async def scenario() -> list[int]:
        ticks = 0
        seen: list[int] = []

        async def other_session() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async def send(slot: FrameSlot) -> None:
            seen.append(ticks)

        other = asyncio.ensure_future(other_session())
        await asyncio.sleep(0)
        await run_turn(
            plan_turn(profile(0, 0, 10 * BURST_YIELD_EVERY), None), time.monotonic(), send, Tally(), ServerMetrics()
        )
        other.cancel()
        return seen

    seen = asyncio.run(scenario())
    assert len(set(seen)) >= 9  # the other task ran between the bursts of back-to-back frames


def test_fail_at_stops_the_turn_there() -> None:
    sent: list[int] = []

    async def send(slot: FrameSlot) -> None:
        sent.append(slot.first_token)

    result = asyncio.run(
        run_turn(plan_turn(profile(0, 0, 10), None), time.monotonic(), send, Tally(), ServerMetrics(), fail_at=4)
    )
    assert result.injected and result.tokens == 4 and sent == [0, 1, 2, 3]


@pytest.mark.quiet  # asserts queueing times within 6 ms: on a quiet machine
def test_slots_queue_turns_and_restart_their_clock() -> None:
    async def scenario() -> list[float]:
        metrics = ServerMetrics()
        pool = SlotPool(1, metrics)
        firsts: list[float] = []

        async def turn(received: float) -> None:
            async with pool.hold(received) as origin:

                async def send(slot: FrameSlot) -> None:
                    firsts.append(time.monotonic() - received)

                await run_turn(plan_turn(profile(40, 0, 1), None), origin, send, Tally(), metrics)

        now = time.monotonic()
        await asyncio.gather(turn(now), turn(now), turn(now))
        return firsts

    firsts = sorted(asyncio.run(scenario()))
    assert firsts == [pytest.approx(0.04, abs=0.004), pytest.approx(0.08, abs=0.006), pytest.approx(0.12, abs=0.008)]


def test_unlimited_slots_keep_the_receipt_time() -> None:
    async def scenario() -> float:
        received = time.monotonic() - 1.0
        async with SlotPool(0, ServerMetrics()).hold(received) as origin:
            return origin - received

    assert asyncio.run(scenario()) == 0.0


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_timing_error_at_moderate_concurrency() -> None:
    """200 concurrent turns of 10 frames: no frame early, and the median error a few milliseconds at
    most even on a busy shared machine (benchmarks/server_capacity.py measures the exact figures)."""

    async def scenario() -> list[float]:
        errors: list[float] = []
        metrics, tally = ServerMetrics(), Tally()

        async def one() -> None:
            origin = time.monotonic()
            planned = iter([origin + 0.02 + 0.005 * i for i in range(10)])

            async def send(slot: FrameSlot) -> None:
                errors.append(time.monotonic() - next(planned))

            await run_turn(plan_turn(profile(20, 5, 10), None), origin, send, tally, metrics)

        await asyncio.gather(*(one() for _ in range(200)))
        return errors

    errors = asyncio.run(scenario())
    assert min(errors) >= 0.0
    assert statistics.median(errors) < 0.005


@pytest.mark.quiet  # asserts a 100 ms wait within 5 ms: on a quiet machine
def test_slots_queue_turns_end_to_end() -> None:
    """With one slot, a second turn waits for the first: its TTFT seen by the client includes the wait."""
    with running_server("--slots", "1", "--ttft-ms", "50", "--itl-ms", "0", "--tokens", "1") as server:
        with NativeClient(server.ws_url) as client:
            client.prompt("a")
            client.prompt("b")
            frames = client.until({"done"}, "a") + client.until({"done"}, "b")
        waits = server.metrics()
    first_token = {f["id"]: f["ts"] for f in frames if f["type"] == "token"}
    prompt_ts = {f["id"]: f["prompt_ts"] for f in frames if f["type"] == "done"}
    assert first_token["a"] - prompt_ts["a"] == pytest.approx(0.050, abs=0.003)
    assert first_token["b"] - prompt_ts["b"] == pytest.approx(0.100, abs=0.005)
    assert waits["rtref_slot_wait_seconds_count"] == 2 and waits["rtref_slot_wait_seconds_sum"] >= 0.045


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_cork_gives_up_quietly_once_the_connection_is_aborted(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """Regression (found by the fuzz suite): uvloop's socket of an aborted transport raised ValueError,
    which failed every turn in flight on a connection cut off for not reading."""

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", server.sockets[0].getsockname()[1])
        cork = Cork(transport)
        cork.hold()
        corked = cork.corked
        transport.abort()
        await asyncio.sleep(0.01)
        cork.release()
        cork.hold()
        server.close()
        return corked and not cork.corked

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(scenario())
