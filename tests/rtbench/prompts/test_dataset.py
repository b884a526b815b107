"""Dataset files: text, JSONL and ShareGPT items become scripts as written, and every problem is
one line naming the dataset file and the line it is on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtbench.errors import ConfigError
from rtbench.prompts.dataset import Script, load_dataset

#: Texts that must arrive exactly as written: quotes, a backslash, tabs, double spaces, non-ASCII.
ODD = 'say "hi" \\ then\ttab  two  spaces, caf\u00e9 \u2713'


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_text_file_is_a_prompt_a_line_without_its_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.txt", f"first\n\n   \n{ODD}\r\n  indented stays  \nlast")
    dataset = load_dataset(path)
    assert dataset.format == "text" and not dataset.converses
    assert [script.user_turns for script in dataset.scripts] == [("first",), (ODD,), ("  indented stays  ",), ("last",)]


def test_jsonl_takes_prompts_and_message_lists(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "not sent"},
        {"role": "user", "content": ODD},
    ]
    lines = [json.dumps({"prompt": "p1", "output_len": 5}), "", json.dumps({"messages": messages})]
    dataset = load_dataset(_write(tmp_path, "d.jsonl", "\n".join(lines) + "\n"))
    assert dataset.scripts == (Script(None, ("p1",)), Script("Be brief.", ("u1", ODD)))
    assert dataset.converses


def test_sharegpt_conversations_keep_their_human_turns_in_order(tmp_path: Path) -> None:
    entries = [
        {"id": "a", "conversations": [{"from": "human", "value": "h1"}, {"from": "gpt", "value": "g1"}]},
        {
            "conversations": [
                {"from": "system", "value": "sys"},
                {"from": "human", "value": "k1"},
                {"from": "gpt", "value": "g"},
                {"from": "human", "value": ODD},
            ]
        },
    ]
    dataset = load_dataset(_write(tmp_path, "s.json", json.dumps(entries, indent=2)))
    assert dataset.format == "sharegpt"
    assert dataset.scripts == (Script(None, ("h1",)), Script("sys", ("k1", ODD)))


SHAREGPT_NO_HUMAN = """[
  {"conversations": [{"from": "human", "value": "fine"}]},
  {"conversations": [
    {"from": "gpt", "value": "an answer to nothing"}
  ]}
]"""


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("e.txt", "", "e.txt:1: empty dataset: no prompts in it"),
        ("b.txt", "\n  \n\n", "b.txt:1: empty dataset: no prompts in it"),
        ("e.jsonl", "\n", "e.jsonl:1: empty dataset: no prompts in it"),
        ("e.json", " [ ] ", "e.json:1: empty dataset: no prompts in it"),
        ("m.jsonl", '{"prompt": "ok"}\n\n{"prompt": "cut\n', "m.jsonl:3: invalid JSON: Unterminated string"),
        ("n.jsonl", '{"prompt": "ok"}\n{"text": "x"}\n', 'n.jsonl:2: expected an object with "prompt"'),
        ("r.jsonl", '{"messages": [{"role": "bot", "content": "x"}]}', "r.jsonl:1: message 1: expected"),
        ("u.jsonl", '{"messages": [{"role": "system", "content": "x"}]}', "u.jsonl:1: no user message"),
        ("p.jsonl", '{"prompt": ""}', 'p.jsonl:1: "prompt": expected a non-empty string'),
        ("s.json", SHAREGPT_NO_HUMAN, "s.json:3: no human turn: nothing to send"),
        ("t.json", '[{"conversations": []}]', "t.json:1: no human turn"),
        ("a.json", '[{"conversations": []},', "a.json:1: invalid JSON: the array is not closed"),
        (
            "c.json",
            '[\n{"conversations": [{"from": "human", "value": "x"}]}\n{"x": 1}]',
            "c.json:3: invalid JSON: expected",
        ),
        ("o.json", '{"conversations": []}', "o.json:1: a ShareGPT file: expected a JSON array"),
        ("f.json", '[{"conversations": [{"from": "narrator", "value": "x"}]}]', 'f.json:1: turn 1: "from" must be'),
    ],
)
def test_a_bad_dataset_is_one_line_naming_its_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(ConfigError) as caught:
        load_dataset(path)
    assert str(caught.value).startswith(f"{tmp_path}/{message}") and "\n" not in str(caught.value)


def test_a_missing_unreadable_or_unknown_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gone\.txt: no such dataset file$"):
        load_dataset(tmp_path / "gone.txt")
    with pytest.raises(ConfigError, match=r"d\.csv: unknown dataset format '\.csv'; use \.txt"):
        load_dataset(_write(tmp_path, "d.csv", "a,b\n"))
    latin = tmp_path / "l.txt"
    latin.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(ConfigError, match=r"l\.txt:2: not UTF-8 text"):
        load_dataset(latin)
