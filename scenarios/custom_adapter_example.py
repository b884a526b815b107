"""An example custom adapter: the native protocol with every prompt rewritten on the way out.

A custom adapter is any concrete subclass of `rtbench.protocols.base.ProtocolAdapter`. Select it
in a scenario by its import path (the module must be importable: put its folder on PYTHONPATH):

    [target]
    protocol = "custom_adapter_example:PrefixedNativeAdapter"

or, from an installed package, by an entry point in the group `rtbench.adapters`:

    # the package's pyproject.toml
    [project.entry-points."rtbench.adapters"]
    native-prefixed = "custom_adapter_example:PrefixedNativeAdapter"

    # the scenario
    protocol = "native-prefixed"

rtbench builds one adapter per session with the scenario's `[adapter]` table as `options`.
Validate them in `__init__` and raise `ConfigError` with one line naming the key. Adapters are
sans-I/O: frames in, events out, no sockets and no clocks; see rtbench/protocols/native.py.
An adapter says what it exchanges with the target by its `wire` class attribute, which selects
the transport: `Wire.MESSAGES` (the default: WebSocket messages, ws:// or wss://) or
`Wire.HTTP_STREAM` (one streamed HTTP response per turn, http:// or https://; see
rtbench/protocols/openai_chat.py). Tests can drive any adapter over `memory://` URLs without a
server (rtbench/transports/memory.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtbench.errors import ConfigError
from rtbench.protocols.native import NativeAdapter

__all__ = ["PrefixedNativeAdapter"]


class PrefixedNativeAdapter(NativeAdapter):
    """The native `/ws` protocol; prompts get `[adapter] prefix` in front and, with
    `upper = true`, are upper-cased (say, to check that a server's cost does not depend on case).
    Everything else, including seq tracking and resume, is the native adapter's."""

    name = "native-prefixed"

    __slots__ = ("prefix", "upper")

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        prefix = options.pop("prefix", "")
        upper = options.pop("upper", False)
        if not isinstance(prefix, str):
            raise ConfigError(f"[adapter] prefix: expected a string, got {prefix!r}")
        if not isinstance(upper, bool):
            raise ConfigError(f"[adapter] upper: expected true or false, got {upper!r}")
        super().__init__(options)  # the native adapter rejects any option left over
        self.prefix = prefix
        self.upper = upper

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        text = self.prefix + text
        return super().prompt(turn_id, text.upper() if self.upper else text, max_tokens)
