"""The adapter base class and the selection of adapters by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.errors import ConfigError
from rtbench.protocols.base import (
    ADAPTERS,
    ProtocolAdapter,
    Wire,
    adapter_class,
    register_adapter,
)
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
    assert {"openai-realtime", "ws-json"} <= set(ADAPTERS)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as excinfo:
        adapter_class("grpc")
    assert "'grpc'" in str(excinfo.value) and "native" in str(excinfo.value)


def test_defaults_of_a_minimal_adapter() -> None:
    adapter = _PromptOnly()
    assert adapter.wire is Wire.MESSAGES
    assert adapter.handshake() == []
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
        assert adapter_class("test-prompt-only")().prompt("t1", "hi") == ["t1:hi"]
    finally:
        ADAPTERS.pop("test-prompt-only", None)


def test_adapters_keep_no_per_instance_dict() -> None:
    assert not hasattr(NativeAdapter(), "__dict__")


# -- custom adapters: "package.module:ClassName" and entry points --------------------------------

PLUGIN_MODULE = """
from rtbench.protocols.base import ProtocolAdapter


class EchoAdapter(ProtocolAdapter):
    name = "echo"

    def prompt(self, turn_id, text, max_tokens=None):
        return [turn_id + ":" + text]

    def receive(self, frame):
        return []


class Half(ProtocolAdapter):
    name = "half"


class OldStyle(EchoAdapter):
    transport = "http-sse"


class OddWire(EchoAdapter):
    wire = "http-sse"


NOT_A_CLASS = 3
"""


def _plugin_dir(tmp_path: Path, module: str, entry_points: str = "") -> Path:
    """`module`.py with PLUGIN_MODULE and, with `entry_points`, an installed distribution."""
    (tmp_path / f"{module}.py").write_text(PLUGIN_MODULE)
    if entry_points:
        info = tmp_path / f"{module}_dist-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}-dist\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[rtbench.adapters]\n{entry_points}\n")
    return tmp_path


def test_a_class_named_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(_plugin_dir(tmp_path, "rtb_plugin_a")))
    cls = adapter_class("rtb_plugin_a:EchoAdapter")
    assert cls.__name__ == "EchoAdapter" and issubclass(cls, ProtocolAdapter)
    assert adapter_class("rtb_plugin_a:EchoAdapter")().prompt("t1", "hi") == ["t1:hi"]
    assert adapter_class("rtb_plugin_a:EchoAdapter") is cls
    assert "rtb_plugin_a:EchoAdapter" not in ADAPTERS  # the list of known protocols stays as built
    assert adapter_class("rtbench.protocols.native:NativeAdapter") is NativeAdapter


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rtb_missing.sub:X", "protocol 'rtb_missing.sub:X': no module named 'rtb_missing.sub' (is its folder"),
        ("rtb_plugin_b:Nope", "protocol 'rtb_plugin_b:Nope': module 'rtb_plugin_b' has no class 'Nope'"),
        ("rtb_plugin_b:NOT_A_CLASS", "protocol 'rtb_plugin_b:NOT_A_CLASS': 3 is not a subclass of rtbench's"),
        ("json:JSONDecoder", "protocol 'json:JSONDecoder': <class 'json.decoder.JSONDecoder'> is not a"),
        ("rtb_plugin_b:Half", "protocol 'rtb_plugin_b:Half': Half does not implement prompt, receive"),
        ("rtb_plugin_b:", "protocol 'rtb_plugin_b:': expected 'package.module:ClassName'"),
        ("rtb_plugin_b:OldStyle", "protocol 'rtb_plugin_b:OldStyle': set OldStyle.wire to a Wire, not a transport"),
        ("rtb_plugin_b:OddWire", "protocol 'rtb_plugin_b:OddWire': OddWire.wire is 'http-sse', not a Wire"),
        ("rtb_broken:X", "protocol 'rtb_broken:X': cannot import 'rtb_broken': ZeroDivisionError: division by zero"),
        ("rtb_needs_dep:X", "protocol 'rtb_needs_dep:X': cannot import 'rtb_needs_dep': No module named 'rtb_absent'"),
    ],
)
def test_bad_import_paths_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    monkeypatch.syspath_prepend(str(_plugin_dir(tmp_path, "rtb_plugin_b")))
    (tmp_path / "rtb_broken.py").write_text("1 / 0\n")
    (tmp_path / "rtb_needs_dep.py").write_text("import rtb_absent\n")
    with pytest.raises(ConfigError) as excinfo:
        adapter_class(name)
    assert str(excinfo.value).startswith(message), str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_entry_points_are_known_by_their_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    points = "rtb-echo = rtb_plugin_c:EchoAdapter\nrtb-broken = rtb_plugin_c:Gone\nrtb-half = rtb_plugin_c:Half"
    monkeypatch.syspath_prepend(str(_plugin_dir(tmp_path, "rtb_plugin_c", points)))
    assert adapter_class("rtb-echo")().prompt("t1", "x") == ["t1:x"]
    with pytest.raises(
        ConfigError,
        match=r"^protocol 'rtb-broken': entry point 'rtb_plugin_c:Gone' cannot be "
        r"loaded: AttributeError",
    ):
        adapter_class("rtb-broken")
    with pytest.raises(ConfigError, match="Half does not implement prompt, receive"):
        adapter_class("rtb-half")
    with pytest.raises(ConfigError) as excinfo:
        adapter_class("rtb-nothing")
    assert "from entry points: rtb-broken, rtb-echo, rtb-half" in str(excinfo.value)
    assert "'package.module:ClassName'" in str(excinfo.value)
