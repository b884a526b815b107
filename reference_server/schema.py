"""The server's settings schema, written once: on the config dataclasses' fields.

A setting is a dataclass field declared with `option(default, help, group, ...)`. From those fields
come the command-line flags (`--heartbeat-s`, with the help and its default), the keys a TOML file
accepts and their types, and the range checks run on the final configuration. A field added with
`option()` is therefore a flag, a TOML key and a checked value at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConfigError",
    "Option",
    "Setting",
    "add_flags",
    "flag_of",
    "format_default",
    "option",
    "parse_range",
    "range_errors",
    "settings",
    "toml_value",
    "typed",
]

GROUPS = ("listening", "latency", "faults", "limits")


class ConfigError(ValueError):
    """A configuration problem, worded as one line naming the file, the key and what was expected."""


@dataclass(frozen=True)
class Option:
    """What the schema knows of a setting besides its name, type and default."""

    help: str
    #: The `--help` section it is listed in (one of GROUPS).
    group: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    #: False: no flag of its own (another flag sets it, or none does); still a TOML key.
    flag: bool = True
    #: The name range errors use, when not the field's own flag (e.g. "--rate-limit").
    label: str = ""
    #: Appended to a range error (e.g. "prompts/s").
    unit: str = ""


def option(
    default: Any,
    help: str,  # noqa: A002 - argparse's own word
    group: str,
    **details: Any,
) -> Any:
    """A dataclass field that is a server setting (see `Option` for `details`)."""
    if group not in GROUPS:
        raise ValueError(f"unknown option group {group!r}")
    return field(default=default, metadata={"option": Option(help, group, **details)})


@dataclass(frozen=True)
class Setting:
    """One setting: its field name, its resolved type, its default and its `Option`."""

    name: str
    kind: Any
    default: Any
    option: Option

    @property
    def flag(self) -> str:
        return flag_of(self.name)

    @property
    def label(self) -> str:
        return self.option.label or self.flag


def flag_of(name: str) -> str:
    """The command-line flag of a field: `heartbeat_s` -> `--heartbeat-s`."""
    return "--" + name.replace("_", "-")


def settings(cls: type) -> Iterator[Setting]:
    """The fields of dataclass `cls` declared with `option()`, in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        opt = f.metadata.get("option")
        if isinstance(opt, Option):
            yield Setting(f.name, hints[f.name], f.default, opt)


def format_default(value: Any) -> str:
    """A default as `--help` shows it: 20.0 -> "20", (1.0, 10.0) -> "1:10", False -> "off"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ":".join(format_default(v) for v in value)
    if hasattr(value, "describe"):
        return str(value.describe())
    return str(value)


def parse_range(text: str) -> tuple[float, float]:
    """`MIN:MAX` (or one number for both) as seconds; argparse's type for a range setting."""
    low, sep, high = text.partition(":")
    try:
        return (float(low), float(high)) if sep else (float(low), float(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN:MAX seconds") from None


def add_flags(groups: dict[str, Any], cls: type) -> None:
    """Add a flag for each setting of `cls` to its argparse group (`groups`: group -> parser group).

    Every flag defaults to None, so that a flag that was not given leaves the file's value alone."""
    for s in settings(cls):
        if not s.option.flag:
            continue
        shown = "" if s.default is None else f" (default {format_default(s.default)})"
        kwargs: dict[str, Any] = {"help": s.option.help + shown, "default": None}
        if s.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = s.option.metavar
            kwargs["type"] = parse_range if s.kind == tuple[float, float] else _scalar(s.kind)
            if s.option.choices:
                kwargs.update(choices=s.option.choices, metavar=None)
        groups[s.option.group].add_argument(s.flag, **kwargs)


def _scalar(kind: Any) -> Any:
    """The argparse/TOML type of a scalar setting: `str | None` is a str."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def toml_value(s: Setting, value: Any, where: str) -> Any:
    """`value` from a TOML file, checked against the setting's type (ConfigError when it does not fit)."""
    if s.kind == tuple[float, float]:
        if not (isinstance(value, list) and len(value) == 2):
            raise ConfigError(f"{where}: expected [MIN, MAX] seconds, got {value!r}")
        low, high = (float(typed(v, (int, float), where)) for v in value)
        return (low, high)
    kind = _scalar(s.kind)
    if kind is float:
        return float(typed(value, (int, float), where))
    return typed(value, kind, where)


def typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """`value` if it is a `kind` (a bool is no number); ConfigError naming `where` otherwise."""
    bad_bool = isinstance(value, bool) and kind is not bool
    if bad_bool or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ConfigError(f"{where}: expected {names}, got {value!r}")
    return value


def range_errors(obj: Any) -> list[str]:
    """The range errors of dataclass instance `obj`'s settings, worded by flag ("--procs must be >= 1")."""
    errors = []
    for s in settings(type(obj)):
        low, high = s.option.minimum, s.option.maximum
        if low is None and high is None:
            continue
        value = getattr(obj, s.name)
        unit = f" {s.option.unit}" if s.option.unit else ""
        if low is not None and high is not None and not low <= value <= high:
            errors.append(f"{s.label} must be within {low:g}..{high:g}{unit}")
        elif low is not None and high is None and value < low:
            errors.append(f"{s.label} must be >= {low:g}{unit}")
        elif high is not None and low is None and value > high:
            errors.append(f"{s.label} must be <= {high:g}{unit}")
    return errors
