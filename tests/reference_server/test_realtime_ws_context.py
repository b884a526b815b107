"""Realtime `/v1/realtime` conversations: instructions, items, item deletion and the prefill model."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from support.clients import recv_json
from support.server import ServerHandle, running_server

REPLY = 5
SYSTEM = " ".join(f"rule{i}" for i in range(200))  # 200 tokens: 100 ms of prefill at 500 ms per 1k


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    flags = ("--ttft-ms", "20", "--itl-ms", "1", "--tokens", str(REPLY), "--prefill-ms-per-1k", "500")
    with running_server(*flags, "--max-context-tokens", "300") as handle:
        yield handle


class Realtime:
    """A `/v1/realtime` connection that reads events until the one it waits for."""

    def __init__(self, server: ServerHandle) -> None:
        self.ws = websocket.create_connection(server.url("/v1/realtime", "ws"), timeout=5)
        assert recv_json(self.ws)["type"] == "session.created"

    def __enter__(self) -> Realtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def send(self, **event: Any) -> float:
        sent = time.perf_counter()
        self.ws.send(json.dumps(event))
        return sent

    def until(self, kind: str) -> list[dict[str, Any]]:
        events = [recv_json(self.ws)]
        while events[-1]["type"] not in (kind, "error"):
            events.append(recv_json(self.ws))
        return events

    def instructions(self, text: str) -> None:
        self.send(type="session.update", session={"instructions": text})
        assert self.until("session.updated")[-1]["session"]["instructions"] == text

    def user(self, text: str) -> str:
        content = [{"type": "input_text", "text": text}]
        self.send(type="conversation.item.create", item={"type": "message", "role": "user", "content": content})
        return str(self.until("conversation.item.created")[-1]["item"]["id"])

    def respond(self) -> tuple[dict[str, Any], str, float]:
        """response.create: the usage, the assistant item's id, and the client-side TTFT in ms."""
        sent = self.send(type="response.create")
        events = [recv_json(self.ws)]
        while events[-1]["type"] != "response.output_text.delta":
            events.append(recv_json(self.ws))
        ttft_ms = (time.perf_counter() - sent) * 1000.0
        events += self.until("response.done")
        assert events[-1]["response"]["status"] == "completed", events[-1]
        return events[-1]["response"]["usage"], events[-2]["item_id"], ttft_ms

    def delete(self, item_id: str) -> dict[str, Any]:
        self.send(type="conversation.item.delete", item_id=item_id)
        return self.until("conversation.item.deleted")[-1]


def test_each_response_finds_the_conversation_so_far_cached(server: ServerHandle) -> None:
    with Realtime(server) as rt:
        rt.instructions(SYSTEM)
        rt.user("one two three")
        first, _, slow = rt.respond()
        rt.user("four five")
        second, _, fast = rt.respond()
    assert first == {"total_tokens": 203 + REPLY, "input_tokens": 203, "output_tokens": REPLY, "cached_tokens": 0}
    assert second["input_tokens"] == 203 + REPLY + 2 and second["cached_tokens"] == 203 + REPLY
    # TTFT + 203 tokens of prefill, then 2 (client side: plus the trip; loose, a busy machine is late)
    assert 20 + 101.5 <= slow < 20 + 101.5 + 60
    assert 20 + 1 <= fast < 20 + 1 + 60 < 20 + 101.5


def test_new_instructions_pay_the_whole_context_again(server: ServerHandle) -> None:
    with Realtime(server) as rt:
        rt.instructions(SYSTEM)
        rt.user("one two three")
        rt.respond()
        rt.instructions(" ".join(f"other{i}" for i in range(200)))
        rt.user("four five")
        usage, _, ttft = rt.respond()
    assert usage["input_tokens"] == 200 + 3 + REPLY + 2 and usage["cached_tokens"] == 0
    assert ttft >= 20 + 500 * usage["input_tokens"] / 1000


def test_deleting_items_shrinks_the_context(server: ServerHandle) -> None:
    with Realtime(server) as rt:
        first = rt.user("one two three")
        _, reply, _ = rt.respond()
        deleted = [rt.delete(first), rt.delete(reply)]
        rt.user("four five")
        usage, _, _ = rt.respond()
        rt.send(type="conversation.item.delete", item_id=first)
        missing = rt.until("conversation.item.deleted")[-1]
    assert [d["type"] for d in deleted] == ["conversation.item.deleted"] * 2
    assert [d["item_id"] for d in deleted] == [first, reply]
    assert usage["input_tokens"] == 2 and usage["cached_tokens"] == 0  # the prefix went with the first item
    assert missing["type"] == "error" and missing["error"]["code"] == "item_not_found"


def test_the_context_is_bound_by_max_context_tokens(server: ServerHandle) -> None:
    words = " ".join(f"w{i}" for i in range(100))
    with Realtime(server) as rt:
        inputs = []
        for _ in range(4):
            rt.user(words)
            inputs.append(rt.respond()[0]["input_tokens"])
    # 100 user + 5 reply a turn within 300: 100, 205, then 310 drops the oldest turn: 205, 205
    assert inputs == [100, 205, 205, 205]


def test_a_duplicate_item_id_is_refused(server: ServerHandle) -> None:
    item = {"type": "message", "id": "mine", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    with Realtime(server) as rt:
        rt.send(type="conversation.item.create", item=item)
        assert rt.until("conversation.item.created")[-1]["item"]["id"] == "mine"
        rt.send(type="conversation.item.create", item=item)
        error = rt.until("conversation.item.created")[-1]
    assert error["type"] == "error" and error["error"]["code"] == "bad_request"
