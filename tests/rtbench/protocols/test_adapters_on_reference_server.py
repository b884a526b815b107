"""The openai-realtime, ws-json and example custom adapters in real sessions on the reference server.

Each test drives a `WebSocketTransport` over loopback with the adapters built from the shipped
scenario files' `[adapter]` tables (tests/support/adapter_driver.py). The server's TTFT is fixed,
so every measured TTFT must be that value within 3 ms, on both protocols, and the ws-json
description of the native protocol must measure what the native adapter measures.
"""

from __future__ import annotations

import statistics
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from support.adapter_driver import AdapterSession, TurnRecord
from support.server import ServerHandle, running_server

from rtbench.load.conversation import Conversation
from rtbench.protocols.base import adapter_class
from rtbench.protocols.context import count_tokens
from rtbench.protocols.events import Error, PersonaChanged

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
TTFT_S, ITL_S, TOKENS = 0.050, 0.005, 20
TOLERANCE_S = 0.003
TURNS = 7
PROMPT = "how are you today"  # 4 words: the server's input_tokens


def scenario(name: str) -> dict[str, Any]:
    return tomllib.loads((SCENARIOS / name).read_text())


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    flags = (
        "--ttft-ms",
        "50",
        "--itl-ms",
        "5",
        "--tokens",
        str(TOKENS),
        "--persona",
        "pirate:switch_ms=20,tokens=3",
        "--persona",
        "pairs:switch_ms=0,tokens_per_frame=2",
    )
    with running_server(*flags) as handle:
        yield handle


def run_turns(
    url: str, protocol: str, options: dict[str, Any], turns: int = TURNS, persona: str | None = None
) -> list[TurnRecord]:
    """`turns` turns in one session; with `persona`, one more after switching to it."""
    with AdapterSession(url, adapter_class(protocol)(options)) as session:
        session.open()
        records = [session.turn(PROMPT) for _ in range(turns)]
        if persona is not None:
            session.send(session.adapter.persona(persona))
            records.append(session.turn(PROMPT))
        return records


def assert_timed(records: list[TurnRecord]) -> None:
    """Whole turns whose median TTFT is the server's within 3 ms. Single turns may be late (a
    shared machine); none may be early, or far off (as when timing a frame without content)."""
    for record in records:
        assert record.errors == [] and record.done is not None
        assert record.ttft_s is not None and TTFT_S - 0.0005 <= record.ttft_s < TTFT_S + 0.040, record.ttft_s
        assert record.tokens == TOKENS and record.done.output_tokens == TOKENS
        assert record.text == "".join(f"tok{n} " for n in range(TOKENS))
        assert record.e2e_s is not None and record.e2e_s >= TTFT_S + (TOKENS - 1) * ITL_S
    median = statistics.median(record.ttft_s for record in records)  # type: ignore[misc]
    assert abs(median - TTFT_S) <= TOLERANCE_S, [record.ttft_s for record in records]


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_realtime_sessions_and_turns(server: ServerHandle) -> None:
    table = scenario("openai-realtime.toml")
    assert table["target"]["protocol"] == "openai-realtime"
    adapter = adapter_class("openai-realtime")(table["adapter"])
    with AdapterSession(server.url("/v1/realtime", "ws"), adapter) as session:
        ready = session.open()
        assert ready is not None and ready.session_id.startswith("sess_") and ready.persona == "default"
        records = [session.turn(PROMPT) for _ in range(TURNS)]
        assert_timed(records)
        # the connection keeps its conversation: each turn's context is the instructions (the system
        # prompt), every earlier prompt and reply, and the new prompt
        system = len(table["adapter"]["instructions"].split())
        expected = [system + 4 + turn * (4 + TOKENS) for turn in range(TURNS)]
        assert [record.done.input_tokens for record in records] == expected  # type: ignore[union-attr]
        assert len(session.of(Error)) == 0 and session.closes == []


def test_realtime_max_tokens_and_persona_switch(server: ServerHandle) -> None:
    with AdapterSession(server.url("/v1/realtime", "ws"), adapter_class("openai-realtime")()) as session:
        session.open()
        capped = session.turn(PROMPT, max_tokens=6)
        assert capped.tokens == 6 and capped.done is not None and capped.done.output_tokens == 6
        session.send(session.adapter.persona("pirate"))
        changed, _ = session.wait_for(lambda event: type(event) is PersonaChanged, "PersonaChanged")
        assert changed == PersonaChanged("pirate", None)
        pirate = session.turn(PROMPT)
        assert pirate.tokens == 3 and pirate.done is not None and pirate.done.output_tokens == 3
        session.send(session.adapter.persona("ghost"))
        error, _ = session.wait_for(lambda event: type(event) is Error, "an error")
        assert isinstance(error, Error) and error.code == "unknown_persona" and not error.fatal


def test_realtime_injected_faults_fail_the_turn_once(reference_server_factory) -> None:
    server = reference_server_factory("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "5", "--error-rate", "1")
    with AdapterSession(server.url("/v1/realtime", "ws"), adapter_class("openai-realtime")()) as session:
        session.open()
        for _ in range(2):
            record = session.turn(PROMPT)
            assert record.done is None and [error.code for error in record.errors] == ["injected"]
            gevent.sleep(0.1)  # the failed response.done follows the error event: no second error
        assert [error.code for error in session.of(Error)] == ["injected", "injected"]


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_ws_json_describing_native_measures_what_native_measures(server: ServerHandle) -> None:
    table = scenario("ws-json-example.toml")
    assert table["target"]["protocol"] == "ws-json"
    described = run_turns(server.ws_url, "ws-json", table["adapter"], persona="pairs")
    native = run_turns(server.ws_url, "native", {}, persona="pairs")
    assert_timed(described[:-1])
    assert_timed(native[:-1])
    ttft = [statistics.median(r.ttft_s for r in records[:-1]) for records in (described, native)]  # type: ignore[misc]
    assert abs(ttft[0] - ttft[1]) <= TOLERANCE_S
    # Under "pairs" each frame carries two tokens: `tokens = "count"` reads them as the native adapter does.
    for pairs in (described[-1], native[-1]):
        assert len(pairs.token_events) == TOKENS // 2 and pairs.tokens == TOKENS
        assert pairs.done is not None and pairs.done.output_tokens == TOKENS


def test_ws_json_with_a_wrong_token_selector_stops_at_the_first_response(server: ServerHandle) -> None:
    options = scenario("ws-json-example.toml")["adapter"] | {"token": "type == 'token' && txt"}
    with AdapterSession(server.ws_url, adapter_class("ws-json")(options)) as session:
        session.open()
        record = session.turn(PROMPT)
    [error] = record.errors
    assert error.code == "config_mismatch" and error.fatal
    assert error.message.startswith(
        "[adapter] token selector \"type == 'token' && txt\" matched nothing in the "
        'first response; first message was: {"type":"token"'
    )


@pytest.mark.quiet  # asserts TTFT within 3 ms of the injected 50: on a quiet machine
def test_the_example_custom_adapter(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCENARIOS))
    table = scenario("custom-adapter.toml")
    records = run_turns(server.ws_url, table["target"]["protocol"], table["adapter"], turns=2)
    assert_timed(records)
    prefix_words = len(table["adapter"]["prefix"].split())
    assert [r.done.input_tokens for r in records] == [prefix_words + 4] * 2  # type: ignore[union-attr]


@pytest.mark.parametrize(("protocol", "history"), [("openai-realtime", 1), ("native", 1), ("native", None)])
def test_a_conversation_the_server_keeps_holds_what_the_client_holds(
    server: ServerHandle, protocol: str, history: int | None
) -> None:
    """The server's context (its usage.input_tokens: the tokens of every message it holds) is the
    client's turn after turn, with a window whose dropped turns the adapter removes there too, and
    a second conversation on the same connection starts empty."""
    system = "You are a pirate who answers briefly."
    conversation = Conversation(history, None)
    conversation.set_persona(system)
    url = server.url("/v1/realtime" if protocol == "openai-realtime" else "/ws", "ws")
    options = scenario("openai-realtime.toml")["adapter"] if protocol == "openai-realtime" else {}
    with AdapterSession(url, adapter_class(protocol)(options)) as session:
        session.open()
        for length in (4, 2):
            conversation.start(length)
            for _ in range(length):
                context = conversation.next_turn(PROMPT)
                record = session.turn(PROMPT, context=context)
                assert record.errors == [] and record.done is not None, record.events
                expected = sum(count_tokens(message.content) for message in context.messages())
                assert record.done.input_tokens == expected, (context.turn, record.done, expected)
                conversation.complete(PROMPT, record.text)
