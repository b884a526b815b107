"""A scenario's `[conversation]` and `[personas]` tables, parsed into `RunConfig` wire values.

    [conversation]
    turns = 5                  # or "uniform:3:8": turns per conversation, drawn at its start
    history = "full"           # "full" | "window:N" (the last N earlier turns) | "none"
    max_context_tokens = 4000  # drop the oldest turns beyond it (counted)

    [personas]
    switch_probability = 0.2   # per turn, after a conversation's first
    mix = { fast = 1, slow = 1 }   # server-side personas (native), or:
    [personas.support]
    system = "You are ..."     # the system prompt
    weight = 2                 # default 1
    model = "name"             # optional: the model asked for while this persona is on

Each problem is a `ValueError`-free one-line `ConfigError` that `where` turns into
"file:line: [table].key: ...".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rtbench.errors import ConfigError
from rtbench.values import non_empty_string, positive_int, positive_number, probability, weights

__all__ = ["Where", "conversation_values", "parse_turns", "parse_history", "persona_values"]

#: Names a key's place for an error: (table path, key) -> "file:line: [table].key".
Where = Callable[[tuple[str, ...], str], str]

_CONVERSATION_KEYS = ("turns", "history", "max_context_tokens")
_PERSONA_KEYS = ("system", "weight", "model")
_UNIFORM = re.compile(r"uniform:(\d+):(\d+)")
_WINDOW = re.compile(r"window:(\d+)")


def parse_turns(value: Any) -> tuple[int, int]:
    """(low, high) turns per conversation from an int >= 1 or "uniform:MIN:MAX"."""
    if isinstance(value, str):
        match = _UNIFORM.fullmatch(value.strip())
        if match is None:
            raise ValueError('an integer >= 1 or "uniform:MIN:MAX"')
        low, high = int(match.group(1)), int(match.group(2))
        if not 1 <= low <= high:
            raise ValueError('"uniform:MIN:MAX" with 1 <= MIN <= MAX')
        return low, high
    count = positive_int(value)
    return count, count


def parse_history(value: Any) -> str:
    """ "full", "none" or "window:N" (N >= 1)."""
    if value in ("full", "none"):
        return str(value)
    match = _WINDOW.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError('"full", "none" or "window:N" with N >= 1')
    return f"window:{int(match.group(1))}"


def _parsed(where: str, parse: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: expected {exc}, got {raw!r}") from None


def conversation_values(table: Any, where: Where) -> dict[str, Any]:
    """The wire values of a `[conversation]` table (`RunConfig` keys)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where(('conversation',), '')}: expected a table")
    values: dict[str, Any] = {"conversation": True}
    parsers: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "turns": ("conversation_turns", parse_turns),
        "history": ("history", parse_history),
        "max_context_tokens": ("max_context_tokens", positive_int),
    }
    for key, raw in table.items():
        if key not in parsers:
            known = ", ".join(_CONVERSATION_KEYS)
            raise ConfigError(f"{where(('conversation',), key)}: unknown key; known: {known}")
        name, parse = parsers[key]
        values[name] = _parsed(where(("conversation",), key), parse, raw)
    return values


def persona_values(table: Any, where: Where) -> dict[str, Any]:
    """The wire values of a `[personas]` table: `switch_probability`, `mix` or `[personas.NAME]`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where(('personas',), '')}: expected a table")
    values: dict[str, Any] = {}
    named: list[tuple[str, float]] = []
    systems: list[tuple[str, str]] = []
    models: list[tuple[str, str]] = []
    for key, raw in table.items():
        here = where(("personas",), key)
        if key == "switch_probability":
            values["persona_switch_probability"] = _parsed(here, probability, raw)
        elif key == "mix":
            values["personas"] = _parsed(here, weights, raw)
        elif isinstance(raw, dict):
            weight, system, model = _persona(key, raw, where)
            named.append((key, weight))
            if system is not None:
                systems.append((key, system))
            if model is not None:
                models.append((key, model))
        else:
            raise ConfigError(
                f"{here}: unknown key; [personas] takes switch_probability, mix, or a [personas.{key}] table"
            )
    if named:
        if "personas" in values:
            here = where(("personas",), "mix")
            raise ConfigError(f"{here}: give personas as mix or as [personas.NAME] tables, not both")
        values.update(personas=tuple(named), persona_systems=tuple(systems), persona_models=tuple(models))
    return values


def _persona(name: str, table: dict[str, Any], where: Where) -> tuple[float, str | None, str | None]:
    """(weight, system prompt, model) of one `[personas.NAME]` table."""
    path = ("personas", name)
    for key in table:
        if key not in _PERSONA_KEYS:
            raise ConfigError(f"{where(path, key)}: unknown key; known: {', '.join(_PERSONA_KEYS)}")
    weight = _parsed(where(path, "weight"), positive_number, table.get("weight", 1))
    system = table.get("system")
    if system is not None:
        system = _parsed(where(path, "system"), non_empty_string, system)
    model = table.get("model")
    if model is not None:
        model = _parsed(where(path, "model"), non_empty_string, model)
    return float(weight), system, model
