"""The sans-I/O adapter interface and the registry that selects an adapter by name.

An adapter turns intentions (open a session, send a prompt, switch persona, resume) into
outgoing messages, and incoming frames or byte chunks into `Event`s. It never touches a socket and
never raises on bad input: a frame it cannot parse becomes an `Error` event.

An adapter declares its `wire`: `Wire.MESSAGES` adapters (WebSocket) return one text frame per
list item and receive whole frames; `Wire.HTTP_STREAM` adapters (SSE) return the request body from
`prompt` and receive raw `bytes` chunks, which they buffer until a complete event arrives.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import Enum
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

from rtbench.errors import ConfigError
from rtbench.protocols.context import TurnContext
from rtbench.protocols.events import Event

__all__ = [
    "Wire",
    "ProtocolAdapter",
    "ADAPTERS",
    "ENTRY_POINT_GROUP",
    "register_adapter",
    "adapter_class",
]


class Wire(Enum):
    """What an adapter exchanges with the target; the transport is chosen to carry it."""

    #: A connection of whole messages both ways (WebSocket): `prompt` and friends return one
    #: message per list item, and `receive` gets each incoming message, `str` or `bytes`.
    MESSAGES = "messages"
    #: One streamed HTTP response per turn (SSE): `prompt` returns the request body, `receive`
    #: gets the response body as raw `bytes` chunks, split anyhow, and `response_started` /
    #: `response_ended` mark the head and the end of each response.
    HTTP_STREAM = "http-stream"


class ProtocolAdapter(ABC):
    """One session's protocol state machine. Create one adapter per session."""

    __slots__ = ()

    #: The name scenarios and the CLI use to select the adapter.
    name: str = ""
    #: Whether `persona` is supported.
    supports_persona: bool = False
    #: Whether `resume` is supported.
    supports_resume: bool = False
    #: What this protocol exchanges with the target; it selects the transport.
    wire: ClassVar[Wire] = Wire.MESSAGES
    #: Whether a session is usable only after the adapter has produced `SessionReady`; when
    #: False, it is usable as soon as the transport connects.
    awaits_ready: bool = True
    #: The sequence number of the last frame taken in order (0 for protocols without numbering):
    #: where a resume after a drop starts. Adapters that number frames keep it per instance.
    last_seq: int = 0
    #: Frames dropped so far as duplicates (0 for protocols that do not detect them).
    duplicates: int = 0
    #: `converse` sends a conversation's system prompt and history (the built-in adapters); an
    #: adapter without it sends each turn's user text alone.
    sends_context: ClassVar[bool] = False
    #: The server keeps the conversation (native, Realtime): `converse` sends only what changed,
    #: and a fresh server session (a drop not resumed) starts a new conversation.
    keeps_context: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        """`options` is the scenario's `[adapter]` table; an adapter that takes none rejects any."""
        if options:
            raise ConfigError(f"protocol {self.name!r} takes no [adapter] options, got: {', '.join(sorted(options))}")

    def handshake(self) -> list[str]:
        """Messages to send right after the connection opens (often none)."""
        return []

    @abstractmethod
    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        """Messages that start turn `turn_id` with the user text `text`."""

    def converse(self, turn_id: str, context: TurnContext, max_tokens: int | None = None) -> list[str]:
        """Messages that send turn `turn_id` of a conversation (`[conversation]`): by default the
        user text alone, through `prompt`; adapters with `sends_context` send the context too."""
        return self.prompt(turn_id, context.user, max_tokens)

    def persona(self, name: str) -> list[str]:
        """Messages that switch the session to persona `name`."""
        raise ConfigError(f"protocol {self.name!r} has no persona switch")

    def resume(self, token: str, last_seq: int) -> list[str]:
        """Messages that re-attach a new connection to a session after frame `last_seq`."""
        raise ConfigError(f"protocol {self.name!r} cannot resume sessions")

    @abstractmethod
    def receive(self, frame: str | bytes) -> list[Event]:
        """The events carried by one incoming frame or byte chunk. Never raises on bad input."""

    def response_started(self, status: int, reason: str) -> list[Event]:
        """HTTP transports only: the status line of a turn's response arrived."""
        return []

    def response_ended(self) -> list[Event]:
        """HTTP transports only: the turn's response body ended (cleanly, by its framing)."""
        return []


_A = TypeVar("_A", bound=type[ProtocolAdapter])

#: Adapter classes by name; filled by `register_adapter` when `rtbench.protocols` is imported.
ADAPTERS: dict[str, type[ProtocolAdapter]] = {}


def register_adapter(cls: _A) -> _A:
    """Class decorator: make `cls` selectable by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no protocol name")
    known = ADAPTERS.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError(f"protocol name {cls.name!r} is taken by {known.__qualname__}")
    ADAPTERS[cls.name] = cls
    return cls


def adapter_class(name: str) -> type[ProtocolAdapter]:
    """The adapter class for protocol `name`: a registered name, a Python class given as
    "package.module:ClassName", or the name of an entry point in the group `rtbench.adapters`.
    Anything else, or a class that is not a concrete `ProtocolAdapter`, is a one-line
    `ConfigError`."""
    cls = ADAPTERS.get(name) or _PLUGINS.get(name)
    if cls is None:
        cls = _import_class(name) if ":" in name else _entry_point_class(name)
        _PLUGINS[name] = cls
    return cls


#: The entry-point group through which installed packages offer adapters, by entry-point name.
ENTRY_POINT_GROUP = "rtbench.adapters"
#: Adapter classes found by import or entry point, by the name they were asked for.
_PLUGINS: dict[str, type[ProtocolAdapter]] = {}


def _import_class(name: str) -> type[ProtocolAdapter]:
    module_name, _, class_name = name.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"protocol {name!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigError(
                f"protocol {name!r}: no module named {module_name!r} (is its folder on PYTHONPATH?)"
            ) from None
        raise ConfigError(f"protocol {name!r}: cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # the module itself failed: a syntax error, an error at import
        raise ConfigError(f"protocol {name!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    found: Any = module
    for part in class_name.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ConfigError(f"protocol {name!r}: module {module_name!r} has no class {class_name!r}")
    return _checked_adapter(name, found)


def _entry_point_class(name: str) -> type[ProtocolAdapter]:
    points = entry_points(group=ENTRY_POINT_GROUP)
    point = next((p for p in points if p.name == name), None)
    if point is None:
        known = ", ".join(sorted(ADAPTERS)) or "none"
        plugins = sorted({p.name for p in points})
        if plugins:
            known += f"; from entry points: {', '.join(plugins)}"
        raise ConfigError(
            f"unknown protocol {name!r}; known protocols: {known}; or name a Python class as 'package.module:ClassName'"
        )
    try:
        found = point.load()
    except Exception as exc:
        raise ConfigError(
            f"protocol {name!r}: entry point {point.value!r} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None
    return _checked_adapter(name, found)


def _checked_adapter(name: str, found: Any) -> type[ProtocolAdapter]:
    if not (isinstance(found, type) and issubclass(found, ProtocolAdapter)):
        raise ConfigError(f"protocol {name!r}: {found!r} is not a subclass of rtbench's ProtocolAdapter")
    if inspect.isabstract(found):
        missing = ", ".join(sorted(found.__abstractmethods__))
        raise ConfigError(f"protocol {name!r}: {found.__qualname__} does not implement {missing}")
    if isinstance(getattr(found, "transport", None), str):  # the string that `wire` replaced
        raise ConfigError(f"protocol {name!r}: set {found.__qualname__}.wire to a Wire, not a transport name")
    if not isinstance(found.wire, Wire):
        raise ConfigError(f"protocol {name!r}: {found.__qualname__}.wire is {found.wire!r}, not a Wire")
    return found
