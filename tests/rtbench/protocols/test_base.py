"""The adapter base class and the selection of adapters by name."""

from __future__ import annotations

import pytest

from rtbench.errors import ConfigError
from rtbench.protocols.base import ADAPTERS, ProtocolAdapter, adapter_for, register_adapter
from rtbench.protocols.events import Event
from rtbench.protocols.native import NativeAdapter


class _PromptOnly(ProtocolAdapter):
    name = "test-prompt-only"

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        return [f"{turn_id}:{text}"]

    def receive(self, frame: str | bytes) -> list[Event]:
        return []


def test_builtin_adapters_are_registered_on_import() -> None:
    assert ADAPTERS["native"] is NativeAdapter


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as excinfo:
        adapter_for("grpc")
    assert "'grpc'" in str(excinfo.value) and "native" in str(excinfo.value)


def test_defaults_of_a_minimal_adapter() -> None:
    adapter = _PromptOnly()
    assert adapter.handshake() == [] and adapter.ping("p") == []
    assert not adapter.supports_persona and not adapter.supports_resume
    with pytest.raises(ConfigError, match="persona"):
        adapter.persona("pirate")
    with pytest.raises(ConfigError, match="resume"):
        adapter.resume("token", 3)


def test_register_adapter_rejects_nameless_and_clashing_classes() -> None:
    class Nameless(_PromptOnly):
        name = ""

    class Clash(_PromptOnly):
        name = "native"

    with pytest.raises(ValueError, match="no protocol name"):
        register_adapter(Nameless)
    with pytest.raises(ValueError, match="taken"):
        register_adapter(Clash)
    assert ADAPTERS["native"] is NativeAdapter


def test_register_adapter_makes_a_class_selectable() -> None:
    try:
        assert register_adapter(_PromptOnly) is _PromptOnly
        assert register_adapter(_PromptOnly) is _PromptOnly  # idempotent
        assert adapter_for("test-prompt-only").prompt("t1", "hi") == ["t1:hi"]
    finally:
        ADAPTERS.pop("test-prompt-only", None)


def test_adapters_keep_no_per_instance_dict() -> None:
    assert not hasattr(NativeAdapter(), "__dict__")
