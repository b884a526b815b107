"""The shared per-process state: persona lookup, turn generation with faults, time helpers."""

from __future__ import annotations

import asyncio
import time

import pytest

from reference_server.config import FaultConfig, ServerConfig
from reference_server.latency import Distribution, FrameSlot, LatencyProfile, Persona
from reference_server.metrics import ServerMetrics
from reference_server.state import ServerState, input_tokens, wall_time_of

FAST = LatencyProfile(Distribution.fixed(1), Distribution.fixed(0), Distribution.fixed(3))


def state(**changes: object) -> ServerState:
    personas = {"default": Persona("default", FAST), "other": Persona("other", FAST, 25.0)}
    return ServerState(ServerConfig(personas=personas).replace(**changes), ServerMetrics())


def test_persona_lookup_falls_back_to_default() -> None:
    s = state()
    assert s.persona("other").name == "other"
    assert s.persona(None).name == "default" and s.persona("missing").name == "default"


def test_generate_sends_the_planned_frames() -> None:
    sent: list[FrameSlot] = []

    async def send(slot: FrameSlot) -> None:
        sent.append(slot)

    s = state()
    result = asyncio.run(s.generate(s.persona(None), ("k", 1), time.monotonic(), 2, send, "native"))
    assert (result.tokens, result.frames, result.injected) == (2, 2, False)
    assert [slot.first_token for slot in sent] == [0, 1]
    assert s.metrics.tallies["native"].frames == 2


def test_generate_with_the_error_fault_fails_turns_and_counts_them() -> None:
    async def send(slot: FrameSlot) -> None:
        pass

    s = state(faults=FaultConfig(error_rate=1.0))

    async def turns() -> list[bool]:
        return [
            (await s.generate(s.persona(None), ("k", i), time.monotonic(), None, send, "openai")).injected
            for i in range(5)
        ]

    assert asyncio.run(turns()) == [True] * 5
    assert 'rtref_faults_total{kind="error"} 5.0' in s.metrics.render().decode()


def test_switch_delay_counts_from_receipt() -> None:
    s = state()
    received = time.monotonic() - 0.010
    started = time.monotonic()
    asyncio.run(s.switch_delay(s.persona("other"), received))
    waited = time.monotonic() - started
    assert 0.0145 <= waited < 0.030  # 25 ms from receipt, 10 ms of which had passed


def test_turn_keys_are_unique() -> None:
    s = state()
    assert len({s.next_turn_key() for _ in range(100)}) == 100


def test_input_tokens_and_wall_time() -> None:
    assert input_tokens("  one two\tthree\n") == 3 and input_tokens("") == 0
    assert wall_time_of(time.monotonic() - 2.0) == pytest.approx(time.time() - 2.0, abs=0.01)
