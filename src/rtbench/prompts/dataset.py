"""Dataset files of prompts and conversations, replayed as written: `load_dataset`.

- `.txt`: a prompt a line; blank lines are skipped.
- `.jsonl`: an object a line, `{"prompt": "..."}` or `{"messages": [{"role", "content"}, ...]}`
  (roles "system", "user", "assistant"); other keys are ignored; blank lines are skipped.
- `.json`: ShareGPT, `[{"conversations": [{"from": "human", "value": "..."}, ...]}, ...]` ("from"
  is "system", "human" or "user", or the model's: "gpt", "assistant", "chatgpt", "bing", "bard",
  "model").

Each item becomes a `Script`: its system prompt (a leading system message) and its user turns, in
order. The model's messages are not sent: a conversation is replayed with the answers the target
actually streams as its history. Every problem is a one-line `ConfigError` "FILE:LINE: ...".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbench.errors import ConfigError

__all__ = ["Dataset", "Script", "load_dataset", "FORMATS"]

#: Dataset formats by file suffix.
FORMATS = {".txt": "text", ".jsonl": "jsonl", ".json": "sharegpt"}
_USER = ("human", "user")
_MODEL = ("gpt", "assistant", "chatgpt", "bing", "bard", "model")
_MESSAGE_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Script:
    """One item of prompts: a single prompt, or a conversation to replay turn by turn."""

    #: The system prompt, None without one.
    system: str | None
    #: The user's messages, in order (at least one).
    user_turns: tuple[str, ...]

    @property
    def converses(self) -> bool:
        """It needs a conversation: several user turns, or a system prompt."""
        return len(self.user_turns) > 1 or self.system is not None


@dataclass(frozen=True)
class Dataset:
    """A dataset file's items, in the file's order."""

    path: str
    #: "text", "jsonl" or "sharegpt".
    format: str
    scripts: tuple[Script, ...]

    @property
    def converses(self) -> bool:
        """Some item needs a conversation (several user turns, or a system prompt)."""
        return any(script.converses for script in self.scripts)


class _Bad(Exception):
    """A problem at a line of the file (turned into "FILE:LINE: message")."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def load_dataset(path: str | Path) -> Dataset:
    """Read and check the dataset at `path` (its format by its suffix)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{path}: unknown dataset format {path.suffix or '(no suffix)'!r}; use {_formats()}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such dataset file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text ({exc.reason})") from None
    try:
        scripts = _PARSERS[kind](text)
        if not scripts:
            raise _Bad(1, "empty dataset: no prompts in it")
    except _Bad as bad:
        raise ConfigError(f"{path}:{bad.line}: {bad}") from None
    return Dataset(str(path), kind, tuple(scripts))


def _formats() -> str:
    return ".txt (a prompt a line), .jsonl (prompt or messages a line) or .json (ShareGPT)"


def _text_scripts(text: str) -> list[Script]:
    return [Script(None, (line,)) for line in text.splitlines() if line.strip()]


def _jsonl_scripts(text: str) -> list[Script]:
    scripts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise _Bad(number, f"invalid JSON: {_json_reason(exc)}") from None
        scripts.append(_jsonl_item(item, number))
    return scripts


def _jsonl_item(item: Any, line: int) -> Script:
    if not isinstance(item, dict) or ("prompt" in item) == ("messages" in item):
        raise _Bad(line, 'expected an object with "prompt" (a string) or "messages" (a list), not both')
    if "prompt" in item:
        return Script(None, (_text(item["prompt"], line, '"prompt"'),))
    messages = item["messages"]
    if not isinstance(messages, list):
        raise _Bad(line, '"messages": expected a list of {"role", "content"} objects')
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or message.get("role") not in _MESSAGE_ROLES:
            raise _Bad(line, f'message {index}: expected {{"role": "system"|"user"|"assistant", "content": "..."}}')
        turns.append((message["role"], _text(message.get("content"), line, f"message {index} content")))
    return _script(turns, line, "user message")


def _sharegpt_scripts(text: str) -> list[Script]:
    return [_sharegpt_item(item, line) for item, line in _array_items(text)]


def _sharegpt_item(item: Any, line: int) -> Script:
    conversations = item.get("conversations") if isinstance(item, dict) else None
    if not isinstance(conversations, list):
        raise _Bad(line, 'a ShareGPT entry: expected {"conversations": [{"from": ..., "value": ...}, ...]}')
    turns: list[tuple[str, str]] = []
    for index, turn in enumerate(conversations, start=1):
        speaker = turn.get("from") if isinstance(turn, dict) else None
        if speaker not in (*_USER, *_MODEL, "system"):
            raise _Bad(line, f'turn {index}: "from" must be "human", "gpt" or "system", not {speaker!r}')
        role = "user" if speaker in _USER else "system" if speaker == "system" else "assistant"
        turns.append((role, _text(turn.get("value"), line, f'turn {index} "value"')))
    return _script(turns, line, "human turn")


def _script(turns: list[tuple[str, str]], line: int, user_name: str) -> Script:
    """A script from (role, text) pairs: a leading system message, then the user turns."""
    system = turns[0][1] if turns and turns[0][0] == "system" else None
    if any(role == "system" for role, _ in turns[1:]):
        raise _Bad(line, "a system message is taken only as the first message")
    users = tuple(text for role, text in turns if role == "user")
    if not users:
        raise _Bad(line, f"no {user_name}: nothing to send")
    return Script(system, users)


def _text(value: Any, line: int, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(line, f"{what}: expected a non-empty string, got {_short(value)}")
    return value


def _array_items(text: str) -> list[tuple[Any, int]]:
    """The items of a top-level JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if position >= len(text):
        return []
    if text[position] != "[":
        raise _Bad(_line(text, position), "a ShareGPT file: expected a JSON array of entries")
    items: list[tuple[Any, int]] = []
    position = _skip_space(text, position + 1)
    while position < len(text) and text[position] != "]":
        try:
            item, end = decoder.raw_decode(text, position)
        except ValueError as exc:
            raise _Bad(getattr(exc, "lineno", _line(text, position)), f"invalid JSON: {_json_reason(exc)}") from None
        items.append((item, _line(text, position)))
        position = _skip_space(text, end)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)
        elif position < len(text) and text[position] != "]":
            raise _Bad(_line(text, position), "invalid JSON: expected ',' or ']' after an entry")
    if position >= len(text):
        raise _Bad(_line(text, len(text)), "invalid JSON: the array is not closed with ']'")
    if _skip_space(text, position + 1) < len(text):
        raise _Bad(_line(text, position + 1), "invalid JSON: text after the array")
    return items


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _json_reason(exc: ValueError) -> str:
    message = getattr(exc, "msg", str(exc))
    column = getattr(exc, "colno", None)
    return f"{message} (column {column})" if column is not None else str(message)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


_PARSERS = {"text": _text_scripts, "jsonl": _jsonl_scripts, "sharegpt": _sharegpt_scripts}
