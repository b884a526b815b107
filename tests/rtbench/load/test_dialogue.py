"""Conversations through the real runner: each request carries the exact history, across
reconnects and failed turns, and turns are recorded by index and by persona switch."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

from support.runs import run_scenario, scenario_text
from support.sse_server import LAST_CHUNK, Reply, ScriptedServer, chunk, event, head
from support.tokenizer_files import whitespace_pieces, word_level_tokenizer

from rtbench.config import ConversationConfig
from rtbench.load.dialogue import Dialogue
from rtbench.metrics.recorder import Recorder
from rtbench.metrics.turn import TurnResult
from rtbench.prompts.config import PromptsConfig
from rtbench.prompts.source import PromptSource
from rtbench.protocols.native import NativeAdapter
from rtbench.protocols.openai_chat import OpenAIChatAdapter

SYSTEM = "You answer in riddles."


def _reply_text(i: int) -> str:
    return f'reply {i}: "quoted" \\ back\\slash \u00fc \u2713\n\ttab  two-spaces '


def _pieces(i: int) -> list[str]:
    text = _reply_text(i)
    return [text[:7], text[7:20], text[20:]]


def _streamed(i: int, complete: bool, close: bool) -> Reply:
    body = [chunk(event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))]
    body += [chunk(event({"choices": [{"index": 0, "delta": {"content": piece}}]})) for piece in _pieces(i)]
    if complete:
        body.append(chunk(b"data: [DONE]\n\n"))
    return Reply(head(), *body, LAST_CHUNK, close=close)


#: Reply 2 closes its connection after it (the next turn reconnects); reply 4 ends before [DONE].
SCRIPT = [(i, i != 4, i in (2, 4)) for i in range(9)]


def test_each_request_carries_the_exact_history_across_reconnects_and_failures(tmp_path: Path) -> None:
    tables = f'[conversation]\nturns = 3\n[personas.riddler]\nsystem = "{SYSTEM}"\n'
    script = itertools.chain((_streamed(*step) for step in SCRIPT), itertools.repeat(_streamed(99, True, False)))
    with ScriptedServer(script) as server:
        body = scenario_text(server.url(), 'protocol = "openai-chat"', users=1, duration="2s", think_time="0s")
        result, _ = run_scenario(tmp_path, body + tables)
        requests = [json.loads(request.body) for request in server.requests[: len(SCRIPT)]]
    assert result.returncode in (0, 1), result.stderr[-2000:]
    assert len(requests) == len(SCRIPT) and server.connections >= 3
    counts = [len(request["messages"]) for request in requests]
    # turns 1-3, 1-3 (turn 2 of the second conversation failed: turn 3 resends turn 1 only), 1-3
    assert counts == [2, 4, 6, 2, 4, 4, 2, 4, 6]
    history: list[dict[str, Any]] = []
    for (i, complete, _), request in zip(SCRIPT, requests, strict=True):
        messages = request["messages"]
        if len(messages) == 2:
            history = [{"role": "system", "content": SYSTEM}]
        assert messages[:-1] == history, f"request {i}"
        assert messages[-1]["role"] == "user" and request["user"] == requests[0]["user"]
        if complete:
            history += [messages[-1], {"role": "assistant", "content": _reply_text(i)}]


# -- the dialogue alone (pure: a recorder and adapters, no I/O) ----------------------------------


def _result(ttft_ms: float) -> TurnResult:
    return TurnResult(ttft_ms * 1000, ttft_ms * 2000, 500.0, 3, "usage", (), 3)


def _recorded(recorder: Recorder) -> tuple[dict[str, int], dict[str, int]]:
    histograms: dict[str, int] = {}
    for interval in recorder.take_closed():
        for name in interval.histograms:
            histograms[name] = histograms.get(name, 0) + 1
    return histograms, recorder.totals


def test_turns_are_recorded_by_index_and_after_a_switch_beside_same_persona_turns() -> None:
    config = ConversationConfig(
        enabled=True,
        turns=(3, 3),
        personas=(("a", 1.0), ("b", 1.0)),
        persona_systems=(("a", "A."), ("b", "B b b.")),
    )
    recorder = Recorder(clock=lambda: 100.0)
    rng = random.Random(1)
    dialogue = Dialogue(config, rng, recorder, "u1", PromptSource(PromptsConfig(texts=("q",)), rng))
    dialogue.set_persona("a", switch=False)
    adapter = OpenAIChatAdapter()
    systems = []
    for n in range(6):
        if n == 1:
            assert dialogue.in_conversation
            dialogue.set_persona("b", switch=True)
        frames, sent = dialogue.send(adapter, f"t{n}", server_session=1)
        systems.append(json.loads(frames[0])["messages"][0]["content"])
        sent.parts += ["x ", "y"]
        dialogue.completed(sent, _result(10 + n), timed_switch=False)
    assert systems == ["A.", "B b b.", "B b b.", "B b b.", "B b b.", "B b b."]
    histograms, totals = _recorded(recorder)
    assert {name for name in histograms if "@" in name} == {
        f"{m}@{k}" for m in ("ttft", "tpot", "e2e") for k in (1, 2, 3)
    }
    assert "persona_switch" in histograms and "ttft_same_persona" in histograms
    assert totals["conversations_started"] == 2 and totals["persona_switches"] == 1


def test_a_fresh_server_session_restarts_the_conversation_only_where_the_server_keeps_it() -> None:
    config = ConversationConfig(enabled=True, turns=(5, 5), max_context_tokens=6)
    for adapter, restarts in ((NativeAdapter(), 2), (OpenAIChatAdapter(), 1)):
        recorder = Recorder(clock=lambda: 100.0)
        rng = random.Random(1)
        dialogue = Dialogue(config, rng, recorder, "u1", PromptSource(PromptsConfig(texts=("two words",)), rng))
        for session in (1, 1, 2):
            _, sent = dialogue.send(adapter, "t", server_session=session)
            sent.parts.append("three words here")
            dialogue.completed(sent, _result(5), timed_switch=False)
        assert recorder.totals["conversations_started"] == restarts
    # openai-chat kept one conversation: turns 2 and 3 (2 + 5 tokens > 6) each dropped the turn before
    assert recorder.totals["context_truncations"] == 2 and recorder.totals["context_turns_dropped"] == 2


# -- scripts from a dataset, the shared prefix, and each turn's input tokens ----------------------


class _UserTextOnly(NativeAdapter):
    """An adapter that sends no context (a custom adapter's default): the user text alone."""

    sends_context = False
    keeps_context = False


def _source(tmp_path: Path, lines: list[Any], **config: Any) -> PromptSource:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return PromptSource(PromptsConfig(file=str(path), **config), random.Random(1), seed=1)


def test_a_dataset_conversation_is_replayed_with_the_answers_streamed_back(tmp_path: Path) -> None:
    script = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "the dataset's answer, never sent"},
        {"role": "user", "content": "second one, please"},
    ]
    source = _source(tmp_path, [{"messages": script}, {"prompt": "lone prompt"}])
    recorder = Recorder(clock=lambda: 100.0)
    dialogue = Dialogue(ConversationConfig(), random.Random(1), recorder, "u1", source)
    adapter, sent_messages, counts = OpenAIChatAdapter(), [], []
    for n in range(5):
        frames, sent = dialogue.send(adapter, f"t{n}", server_session=1, max_tokens=7)
        body = json.loads(frames[0])
        sent_messages.append([(m["role"], m["content"]) for m in body["messages"]])
        counts.append(sent.input_tokens)
        assert body["max_tokens"] == 7
        sent.parts += ["streamed ", f"answer {n}"]
        dialogue.completed(sent, _result(5), timed_switch=False)
    system = ("system", "Be terse.")
    assert sent_messages == [
        [system, ("user", "first question")],
        [system, ("user", "first question"), ("assistant", "streamed answer 0"), ("user", "second one, please")],
        [("user", "lone prompt")],
        [system, ("user", "first question")],
        [system, ("user", "first question"), ("assistant", "streamed answer 3"), ("user", "second one, please")],
    ]
    # the client-side count is every message sent, one token a word (the reference server's rule)
    assert counts == [sum(len(text.split()) for _, text in messages) for messages in sent_messages]
    assert recorder.totals["conversations_started"] == 3


def test_the_prefix_is_the_system_message_or_goes_before_the_text(tmp_path: Path) -> None:
    source = _source(tmp_path, [{"prompt": "hello there"}], prefix_tokens=12)
    assert len(source.prefix.split()) == 12
    recorder = Recorder(clock=lambda: 100.0)
    with_system = Dialogue(ConversationConfig(), random.Random(1), recorder, "u1", source, prefix_as_system=True)
    frames, sent = with_system.send(OpenAIChatAdapter(), "t1", server_session=1)
    assert json.loads(frames[0])["messages"] == [
        {"role": "system", "content": source.prefix},
        {"role": "user", "content": "hello there"},
    ]
    assert sent.input_tokens == 14
    alone = Dialogue(ConversationConfig(), random.Random(1), recorder, "u2", source, prefix_as_system=False)
    frames, sent = alone.send(_UserTextOnly(), "t2", server_session=1)
    assert json.loads(frames[0])["text"] == f"{source.prefix}\n\nhello there" and sent.input_tokens == 14


def test_with_a_tokenizer_the_input_tokens_are_its_count_of_every_message(tmp_path: Path) -> None:
    tokenizer = str(word_level_tokenizer(tmp_path))
    script = {"messages": [{"role": "user", "content": "Why, so? Yes."}, {"role": "user", "content": "And then!"}]}
    source = _source(tmp_path, [script], tokenizer=tokenizer)
    dialogue = Dialogue(ConversationConfig(), random.Random(1), Recorder(clock=lambda: 1.0), "u1", source)
    _, first = dialogue.send(OpenAIChatAdapter(), "t1", server_session=1)
    assert first.input_tokens == len(whitespace_pieces("Why, so? Yes.")) == 6
    first.parts.append("Well, no.")
    dialogue.completed(first, _result(5), timed_switch=False)
    _, second = dialogue.send(OpenAIChatAdapter(), "t2", server_session=1)
    assert second.input_tokens == 6 + 4 + 3
