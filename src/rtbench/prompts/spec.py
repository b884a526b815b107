"""The `[prompts]` table of a scenario, parsed and checked into `RunConfig` wire values.

Every problem is a one-line `ConfigError` naming the scenario's file, line and key; a dataset's
own problems name the dataset file and its line (`rtbench.prompts.dataset`). Paths are taken
relative to the scenario file's folder, and stored absolute (worker processes start elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtbench.conversation_spec import Where
from rtbench.errors import ConfigError
from rtbench.prompts.dataset import load_dataset
from rtbench.prompts.distributions import parse_distribution
from rtbench.prompts.tokens import load_tokenizer
from rtbench.values import non_empty_string, non_negative_int, string_list

__all__ = ["PROMPT_KEYS", "SOURCES", "prompt_values"]

#: The keys that each say where prompts come from: at most one may be given.
SOURCES = ("texts", "file", "input_tokens")
#: [prompts] key -> `WIRE_KEYS` key.
PROMPT_KEYS = {
    "texts": "prompts",
    "file": "prompt_file",
    "input_tokens": "input_tokens",
    "prefix_tokens": "prefix_tokens",
    "max_tokens": "max_tokens",
    "tokenizer": "tokenizer",
}


def _distribution(what: str) -> Callable[[Any], int | str]:
    def parse(value: Any) -> int | str:
        dist = parse_distribution(value, what)
        return value if isinstance(value, int) else dist.text

    return parse


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "texts": string_list,
    "file": non_empty_string,
    "input_tokens": _distribution("a number of tokens"),
    "prefix_tokens": non_negative_int,
    "max_tokens": _distribution("a number of tokens"),
    "tokenizer": non_empty_string,
}


def prompt_values(table: Any, where: Where, folder: Path) -> dict[str, Any]:
    """The wire values of a `[prompts]` table; relative paths are taken from `folder`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where(('prompts',), '')}: expected a table")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        here = where(("prompts",), key)
        if key not in _PARSERS:
            raise ConfigError(f"{here}: unknown key; known: {', '.join(PROMPT_KEYS)}")
        try:
            values[PROMPT_KEYS[key]] = _PARSERS[key](raw)
        except ValueError as exc:
            raise ConfigError(f"{here}: expected {exc}, got {raw!r}") from None
    given = [key for key in SOURCES if key in table]
    if len(given) > 1:
        here = where(("prompts",), given[1])
        raise ConfigError(f"{here}: give one of {', '.join(SOURCES)}; [prompts] has both {given[0]} and {given[1]}")
    if "file" in table:
        path = _absolute(values["prompt_file"], folder)
        if not path.is_file():
            raise ConfigError(f"{where(('prompts',), 'file')}: no such dataset file: {path}")
        load_dataset(path)  # its own errors name the dataset file and line
        values["prompt_file"] = str(path)
    if "tokenizer" in table:
        path = _absolute(values["tokenizer"], folder)
        try:
            load_tokenizer(str(path))
        except ConfigError as exc:
            raise ConfigError(f"{where(('prompts',), 'tokenizer')}: {exc}") from None
        values["tokenizer"] = str(path)
    return values


def _absolute(value: str, folder: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (folder / path).resolve()
