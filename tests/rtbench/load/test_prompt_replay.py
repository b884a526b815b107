"""Dataset files through the real runner: a text file, a JSONL file and a ShareGPT file each reach
the server exactly as written and in order, conversations turn by turn with the answers the server
streamed back as their history (a scripted server records every request)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.runs import run_scenario
from support.sse_server import LAST_CHUNK, Reply, ScriptedServer, chunk, event, head

#: Texts that must arrive exactly as written: quotes, a backslash, tabs, double spaces, non-ASCII.
ODD = 'say "hi" \\ then\ttab  two  spaces, caf\u00e9 \u2713'


def _answer(i: int) -> str:
    return f"answer {i}\n"


def _replies() -> Iterator[Reply]:
    for i in itertools.count():
        role = chunk(event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))
        content = chunk(event({"choices": [{"index": 0, "delta": {"content": _answer(i)}}]}))
        yield Reply(head(), role, content, chunk(b"data: [DONE]\n\n"), LAST_CHUNK)


def _run(tmp_path: Path, name: str, text: str, extra: str = "") -> list[list[tuple[str, str]]]:
    """Run one user over the dataset `text` (file `name`); each request's messages, in order."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    with ScriptedServer(_replies()) as server:
        body = f"""
[target]
url = "{server.url()}"
protocol = "openai-chat"
[load]
users = 1
spawn_rate = 1
duration = "1s"
think_time = "0.05s"
[prompts]
file = "{name}"
{extra}
"""
        result, _ = run_scenario(tmp_path, body)
        requests = [json.loads(request.body) for request in server.requests]
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return [[(message["role"], message["content"]) for message in request["messages"]] for request in requests]


def test_a_text_file_is_sent_a_line_a_turn_in_order(tmp_path: Path) -> None:
    lines = ["first prompt", ODD, "  third, indented  "]
    sent = _run(tmp_path, "prompts.txt", "\n\n".join(lines) + "\n")
    assert len(sent) >= 7
    assert sent[:7] == [[("user", text)] for text in (lines * 3)[:7]]


def test_a_jsonl_file_replays_its_prompts_and_conversations_with_the_streamed_answers(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "the file's answer (never sent)"},
        {"role": "user", "content": ODD},
    ]
    items = [{"prompt": "lone"}, {"messages": messages}]
    sent = _run(tmp_path, "d.jsonl", "".join(json.dumps(item) + "\n" for item in items), "max_tokens = 3")
    assert len(sent) >= 6
    system = ("system", "Be terse.")
    for n, request in enumerate(sent[:6]):
        if n % 3 == 0:
            assert request == [("user", "lone")]
        elif n % 3 == 1:
            assert request == [system, ("user", "q1")]
        else:  # the answer to the turn before, as the server streamed it
            assert request == [system, ("user", "q1"), ("assistant", _answer(n - 1)), ("user", ODD)]


def test_a_sharegpt_file_replays_each_conversation_turn_by_turn(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [
        {
            "id": "x1",
            "conversations": [
                {"from": "human", "value": "h1"},
                {"from": "gpt", "value": "g1 (never sent)"},
                {"from": "human", "value": ODD},
                {"from": "gpt", "value": "g2"},
                {"from": "human", "value": "h3"},
            ],
        },
        {"conversations": [{"from": "system", "value": "You are terse."}, {"from": "human", "value": "k1"}]},
    ]
    sent = _run(tmp_path, "share.json", json.dumps(entries, indent=1))
    assert len(sent) >= 8
    expected = [
        [("user", "h1")],
        [("user", "h1"), ("assistant", _answer(0)), ("user", ODD)],
        [("user", "h1"), ("assistant", _answer(0)), ("user", ODD), ("assistant", _answer(1)), ("user", "h3")],
        [("system", "You are terse."), ("user", "k1")],
        [("user", "h1")],
        [("user", "h1"), ("assistant", _answer(4)), ("user", ODD)],
    ]
    assert sent[:6] == expected
