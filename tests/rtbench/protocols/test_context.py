"""A conversation's turn as each built-in adapter sends it (`converse`), and the default for plugins."""

from __future__ import annotations

import json
from typing import Any

from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.context import Message, TurnContext, count_tokens
from rtbench.protocols.events import Event
from rtbench.protocols.native import NativeAdapter
from rtbench.protocols.openai_chat import OpenAIChatAdapter
from rtbench.protocols.openai_realtime import OpenAIRealtimeAdapter
from rtbench.protocols.ws_json import WsJsonAdapter

HISTORY = (Message("user", "hi"), Message("assistant", 'tok0 "q\u00fc" \n'))


def context(turn: int = 2, **changes: Any) -> TurnContext:
    values: dict[str, Any] = {
        "turn": turn,
        "user": "next one",
        "system": "Be brief.",
        "history": HISTORY if turn > 1 else (),
        "dropped_turns": 0,
        "system_changed": turn == 1,
        "session": "u3",
    }
    values.update(changes)
    return TurnContext(**values)


def test_the_token_rule_counts_whitespace_separated_words() -> None:
    assert count_tokens("  one two\tthree\nfour ") == 4 and count_tokens("") == 0


def test_openai_chat_sends_the_whole_messages_list_and_the_session_as_user() -> None:
    body = json.loads(OpenAIChatAdapter({"model": "m"}).converse("t2", context(model="persona-model"), 16)[0])
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": 'tok0 "q\u00fc" \n'},
        {"role": "user", "content": "next one"},
    ]
    assert body["model"] == "persona-model" and body["user"] == "u3" and body["max_tokens"] == 16
    assert body["stream"] is True


def test_openai_completions_gets_the_texts_one_per_line() -> None:
    adapter = OpenAIChatAdapter({"endpoint": "completions"})
    body = json.loads(adapter.converse("t2", context(system=None))[0])
    assert body["prompt"] == 'hi\ntok0 "q\u00fc" \n\nnext one' and "messages" not in body


def test_native_sends_what_changed_the_server_keeps_the_rest() -> None:
    adapter = NativeAdapter()
    first = json.loads(adapter.converse("t1", context(turn=1))[0])
    assert first == {
        "type": "prompt",
        "id": "t1",
        "text": "next one",
        "reset": True,
        "system": "Be brief.",
        "keep_turns": 0,
    }
    later = json.loads(adapter.converse("t2", context(), 8)[0])
    assert later == {"type": "prompt", "id": "t2", "text": "next one", "max_tokens": 8, "keep_turns": 1}
    switched = json.loads(adapter.converse("t3", context(turn=3, system="Be long.", system_changed=True))[0])
    assert switched["system"] == "Be long." and "reset" not in switched


def _done(adapter: OpenAIRealtimeAdapter, response: str, output_id: str) -> list[Event]:
    body = {"id": response, "status": "completed", "output": [{"id": output_id, "type": "message"}]}
    return adapter.receive(json.dumps({"type": "response.done", "response": body}))


def test_realtime_deletes_the_items_the_context_left_and_sets_instructions() -> None:
    adapter = OpenAIRealtimeAdapter()
    sent = [json.loads(m) for m in adapter.converse("t1", context(turn=1))]
    assert [m["type"] for m in sent] == ["session.update", "conversation.item.create", "response.create"]
    assert sent[0]["session"]["instructions"] == "Be brief." and sent[1]["item"]["id"] == "t1.u"
    _done(adapter, "r1", "a1")
    sent = [json.loads(m) for m in adapter.converse("t2", context())]
    assert [m["type"] for m in sent] == ["conversation.item.create", "response.create"]
    _done(adapter, "r2", "a2")
    # a window of 1 turn: turn 1's items go before turn 3
    sent = [json.loads(m) for m in adapter.converse("t3", context(turn=3))]
    assert [m.get("item_id") for m in sent if m["type"] == "conversation.item.delete"] == ["t1.u", "a1"]
    # turn 3 never completes; a new conversation deletes everything, turn 3's user item too
    sent = [json.loads(m) for m in adapter.converse("t4", context(turn=1))]
    deleted = [m["item_id"] for m in sent if m["type"] == "conversation.item.delete"]
    assert sorted(deleted) == ["a2", "t2.u", "t3.u"]


def test_a_plain_realtime_prompt_names_no_item_and_tracks_nothing() -> None:
    adapter = OpenAIRealtimeAdapter()
    item = json.loads(adapter.prompt("t1", "hi")[0])["item"]
    assert "id" not in item


def test_ws_json_fills_the_conversation_placeholders() -> None:
    options = {
        "request": '{"m": "{messages}", "h": "{history}", "n": "{turn}", "s": "{system}", '
        '"x": "turn {turn} of {history}"}',
        "token": "text",
        "done": "end",
    }
    sent = json.loads(WsJsonAdapter(options).converse("t2", context())[0])
    assert sent["m"][0] == {"role": "system", "content": "Be brief."} and len(sent["m"]) == 4
    assert sent["h"] == [m.as_dict() for m in HISTORY] and sent["n"] == 2 and sent["s"] == "Be brief."
    assert sent["x"].startswith('turn 2 of [{"role":"user"')
    plain = json.loads(WsJsonAdapter(options).prompt("t1", "solo")[0])
    assert plain["m"] == [{"role": "user", "content": "solo"}] and "n" not in plain and "s" not in plain


class _Plugin(ProtocolAdapter):
    name = "plugin-test"

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        return [f"{turn_id}:{text}:{max_tokens}"]

    def receive(self, frame: str | bytes) -> list[Event]:
        return []


def test_an_adapter_without_context_support_sends_the_user_text_alone() -> None:
    assert _Plugin().converse("t2", context(), 5) == ["t2:next one:5"]
    assert not _Plugin.sends_context and OpenAIChatAdapter.sends_context and NativeAdapter.keeps_context
