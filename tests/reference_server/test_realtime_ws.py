"""The Realtime-style `/v1/realtime` protocol end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from support.clients import recv_json
from support.server import ServerHandle, running_server

ITEM = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello you there"}]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server(
        "--ttft-ms", "30", "--itl-ms", "5", "--tokens", "5", "--persona", "slow:ttft_ms=60,tokens=2,switch_ms=20"
    ) as handle:
        yield handle


def connect(server: ServerHandle) -> tuple[websocket.WebSocket, dict[str, Any]]:
    ws = websocket.create_connection(server.url("/v1/realtime", "ws"), timeout=5)
    return ws, recv_json(ws)


def send(ws: websocket.WebSocket, **event: Any) -> None:
    ws.send(json.dumps(event))


def until(ws: websocket.WebSocket, kind: str) -> list[dict[str, Any]]:
    events = []
    while not events or events[-1]["type"] != kind:
        events.append(recv_json(ws))
    return events


def test_conversation(server: ServerHandle) -> None:
    ws, created = connect(server)
    assert created["type"] == "session.created" and created["session"]["id"].startswith("sess_")
    ws.send(json.dumps(ITEM))
    item = recv_json(ws)
    assert item["type"] == "conversation.item.created" and item["item"]["content"][0]["text"] == "hello you there"
    sent = time.perf_counter()
    send(ws, type="response.create")
    events = until(ws, "response.done")
    ws.close()
    kinds = [e["type"] for e in events]
    assert kinds == ["response.created"] + ["response.output_text.delta"] * 5 + [
        "response.output_text.done",
        "response.done",
    ]
    response_id = events[0]["response"]["id"]
    deltas = events[1:6]
    assert all(d["response_id"] == response_id for d in deltas)
    assert "".join(d["delta"] for d in deltas) == events[6]["text"] == "tok0 tok1 tok2 tok3 tok4 "
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["id"] == response_id
    assert done["usage"] == {"total_tokens": 8, "input_tokens": 3, "output_tokens": 5, "cached_tokens": 0}
    assert len({e["event_id"] for e in events}) == len(events)
    assert time.perf_counter() - sent >= 0.030 + 4 * 0.005


def test_session_update_switches_persona(server: ServerHandle) -> None:
    ws, _ = connect(server)
    sent = time.perf_counter()
    send(ws, type="session.update", session={"persona": "slow"})
    updated = recv_json(ws)
    switched = time.perf_counter() - sent
    send(ws, type="response.create", response={"max_output_tokens": 1})
    events = until(ws, "response.done")
    ws.close()
    assert updated["type"] == "session.updated" and updated["session"]["persona"] == "slow"
    assert switched >= 0.020
    assert events[-1]["response"]["usage"]["output_tokens"] == 1


def test_one_response_at_a_time_and_cancel(server: ServerHandle) -> None:
    ws, _ = connect(server)
    send(ws, type="response.create")
    send(ws, type="response.create", event_id="second")
    events = [recv_json(ws), recv_json(ws)]
    error = next(e for e in events if e["type"] == "error")
    assert error["error"]["code"] == "conversation_already_has_active_response"
    assert error["error"]["event_id"] == "second"
    send(ws, type="response.cancel")
    done = until(ws, "response.done")[-1]
    send(ws, type="response.cancel")
    no_active = recv_json(ws)
    ws.close()
    assert done["response"]["status"] == "cancelled"
    assert no_active["error"]["code"] == "response_cancel_not_active"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("nope", "bad_json"),
        ('{"type": "input_audio_buffer.append"}', "unknown_type"),
        ('{"type": "conversation.item.create", "item": {"type": "message"}}', "bad_request"),
        ('{"type": "session.update", "session": {"persona": "ghost"}}', "unknown_persona"),
        # Found by the fuzz suite: these ended the connection with a server-side TypeError (unhashable) ...
        ('{"type": []}', "unknown_type"),
        ('{"type": "session.update", "session": {"persona": ["slow"]}}', "bad_request"),
        # ... and numbers that overflow are not JSON.
        ('{"type": "response.create", "response": {"max_output_tokens": 1e999}}', "bad_json"),
    ],
)
def test_bad_events_get_an_error_and_the_session_goes_on(server: ServerHandle, payload: str, code: str) -> None:
    ws, _ = connect(server)
    ws.send(payload)
    error = recv_json(ws)
    send(ws, type="response.create")
    events = until(ws, "response.done")
    ws.close()
    assert error["type"] == "error" and error["error"]["code"] == code
    assert error["error"]["type"] == "invalid_request_error"
    assert events[-1]["response"]["status"] == "completed"


def test_binary_frame_is_refused(server: ServerHandle) -> None:
    ws, _ = connect(server)
    ws.send_binary(b"\x01")
    error = recv_json(ws)
    ws.close()
    assert error["error"]["code"] == "binary_unsupported"


def test_injected_error_fails_the_response() -> None:
    with running_server("--ttft-ms", "0", "--itl-ms", "0", "--tokens", "3", "--error-rate", "1") as failing:
        ws, _ = connect(failing)
        send(ws, type="response.create")
        events = until(ws, "response.done")
        ws.close()
    assert any(e["type"] == "error" and e["error"]["code"] == "injected" for e in events)
    assert events[-1]["response"]["status"] == "failed"


def test_a_cancelled_response_reports_tokens_not_frames() -> None:
    """`usage.output_tokens` of a cancelled response counted frames; with 3 tokens per frame it was a third."""
    with running_server("--ttft-ms", "0", "--itl-ms", "20", "--tokens", "60", "--tokens-per-frame", "3") as srv:
        ws, _ = connect(srv)
        send(ws, type="response.create")
        while recv_json(ws)["type"] != "response.output_text.delta":
            pass
        time.sleep(0.2)
        send(ws, type="response.cancel")
        events = until(ws, "response.done")
        ws.close()
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    tokens_seen = 3 + sum(len(delta.split()) for delta in deltas)  # the first delta was read above
    assert events[-1]["response"]["status"] == "cancelled"
    assert events[-1]["response"]["usage"]["output_tokens"] == tokens_seen
