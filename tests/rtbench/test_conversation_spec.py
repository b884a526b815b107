"""`[conversation]` and `[personas]` in scenario files: values, and one-line errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.errors import ConfigError
from rtbench.scenario import load_scenario
from rtbench.workflow.plan import plan_run

HEAD = """[target]
url = "ws://127.0.0.1:9/ws"
protocol = "{protocol}"
"""


def _write(tmp_path: Path, body: str, protocol: str = "native") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(HEAD.format(protocol=protocol) + body)
    return path


def test_a_conversation_with_system_prompt_personas(tmp_path: Path) -> None:
    body = """
[conversation]
turns = "uniform:3:8"
history = "window:4"
max_context_tokens = 900

[personas]
switch_probability = 0.25
[personas.support]
system = "You are support."
weight = 3
model = "small"
[personas.sales]
system = "You sell."
"""
    conversation = load_scenario(_write(tmp_path, body)).conversation
    assert conversation.enabled and conversation.turns == (3, 8) and conversation.history_turns == 4
    assert conversation.max_context_tokens == 900 and conversation.switch_probability == 0.25
    assert conversation.personas == (("support", 3.0), ("sales", 1.0))
    assert conversation.persona_systems == (("support", "You are support."), ("sales", "You sell."))
    assert conversation.persona_models == (("support", "small"),)


def test_defaults_and_the_old_persona_mix(tmp_path: Path) -> None:
    plain = load_scenario(_write(tmp_path, "")).conversation
    assert not plain.enabled
    body = '[conversation]\nturns = 2\nhistory = "none"\n[personas]\nmix = { fast = 1, slow = 2 }\n'
    conversation = load_scenario(_write(tmp_path, body)).conversation
    assert conversation.enabled and conversation.turns == (2, 2) and conversation.history_turns == 0
    assert conversation.personas == (("fast", 1.0), ("slow", 2.0)) and conversation.persona_systems == ()


def test_system_prompts_alone_turn_conversations_on(tmp_path: Path) -> None:
    config = load_scenario(_write(tmp_path, '[personas.a]\nsystem = "A"\n'))
    assert config.conversation.enabled and config.conversation.history == "full"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[conversation]\nturn = 3\n", "s.toml:6: [conversation].turn: unknown key"),
        ('[conversation]\nturns = "uniform:3"\n', "s.toml:6: [conversation].turns: expected an integer >= 1 or"),
        ('[conversation]\nturns = "uniform:5:2"\n', "s.toml:6: [conversation].turns: expected"),
        ("[conversation]\nturns = 0\n", "s.toml:6: [conversation].turns: expected"),
        ('[conversation]\nhistory = "window:0"\n', "s.toml:6: [conversation].history: expected"),
        ('[conversation]\nhistory = "last"\n', "s.toml:6: [conversation].history: expected"),
        ("[conversation]\nmax_context_tokens = -1\n", "s.toml:6: [conversation].max_context_tokens: expected"),
        ('[personas.a]\nsystem = "A"\nvoice = "x"\n', "s.toml:7: [personas.a].voice: unknown key"),
        ('[personas.a]\nsystem = ""\n', "s.toml:6: [personas.a].system: expected"),
        ("[personas.a]\nweight = 0\n", "s.toml:6: [personas.a].weight: expected"),
        ("[personas]\nswitch = 0.1\n", "s.toml:6: [personas].switch: unknown key"),
        ('[personas]\nmix = { a = 1 }\n[personas.b]\nsystem = "B"\n', "[personas].mix: give personas as mix or"),
    ],
)
def test_bad_tables_give_one_line_naming_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_scenario(_write(tmp_path, "\n" + body))
    text = str(caught.value)
    assert "\n" not in text and message in text


@pytest.mark.parametrize(
    ("protocol", "body", "message"),
    [
        ("openai-chat", "[personas.fast]\nweight = 2\n", "s.toml:5: [personas.fast].system: missing system"),
        ("native", '[personas.a]\nsystem = "A"\n[personas.b]\nweight = 1\n', "[personas.b].system: missing system"),
    ],
)
def test_a_persona_without_the_system_prompt_it_needs(tmp_path: Path, protocol: str, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"missing system") as caught:
        plan_run(_write(tmp_path, "\n" + body, protocol))
    assert message in str(caught.value)


def test_a_server_persona_without_system_prompt_is_fine_where_the_protocol_switches(tmp_path: Path) -> None:
    plan = plan_run(_write(tmp_path, "\n[personas.fast]\nweight = 2\n", "native"))
    assert plan.config.conversation.personas == (("fast", 2.0),)
