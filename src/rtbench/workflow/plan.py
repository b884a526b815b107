"""From a scenario file and the user's options to a run: its `RunConfig` and `SloSpec`, each parsed once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rtbench.config import RunConfig
from rtbench.conversation_spec import Where
from rtbench.errors import ConfigError
from rtbench.overrides import RunOverrides
from rtbench.protocols.base import adapter_class
from rtbench.scenario import locator, read_toml, resolve
from rtbench.slo.abort import AbortOn, abort_on
from rtbench.slo.sources import read_slo_file
from rtbench.slo.spec import SloSpec, parse_slo_table, turn_limits

__all__ = ["DEFAULT_SCENARIO", "RunPlan", "check_personas", "find_scenario", "plan_run"]

DEFAULT_SCENARIO = Path("scenarios/chat.toml")


@dataclass(frozen=True)
class RunPlan:
    """A run's configuration and the SLOs it is gated on (their per-turn limits are in `config`),
    and the rules that stop it early (`--abort-on`), if any."""

    config: RunConfig
    spec: SloSpec
    abort: AbortOn | None = None


def find_scenario(path: Path | None) -> Path:
    """The given scenario, or `scenarios/chat.toml` here or in rtbench's source tree."""
    if path is not None:
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / DEFAULT_SCENARIO
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no scenario given and no {DEFAULT_SCENARIO} found")


def plan_run(
    scenario: Path | None,
    overrides: RunOverrides | None = None,
    slo_file: Path | None = None,
    abort_rules: Sequence[str] = (),
) -> RunPlan:
    """Read the scenario (default: `find_scenario`), lay the options over it, and parse the SLOs
    once: `slo_file`'s `[slo]` replaces the scenario's. `abort_rules` name the SLO rules that stop
    the run once breached (`rtbench.slo.abort`). One-line `ConfigError`s."""
    path = find_scenario(scenario)
    text, table = read_toml(path, "scenario")
    config = resolve(table, overrides, source=str(path), text=text)
    check_personas(config, locator(str(path), text))
    if slo_file is not None:
        slo, spec = read_slo_file(slo_file)
        config = config.replace(slo=slo)
    else:
        spec = parse_slo_table(config.slo, str(path), text)
    config = config.replace(turn_limits_ms=tuple(turn_limits(spec).items()))
    abort = abort_on(spec, abort_rules, config.load.include_ramp, bool(config.turn_limits_ms))
    return RunPlan(config, spec, abort)


def check_personas(config: RunConfig, where: Where) -> None:
    """Personas must be system prompts, all of them, or the protocol's own persona switch: a
    persona with no system prompt where one is required is a one-line `ConfigError`."""
    conversation = config.conversation
    names = [name for name, _ in conversation.personas]
    systems = dict(conversation.persona_systems)
    if not names or (systems and len(systems) == len(names)):
        return
    missing = next(name for name in names if name not in systems)
    if systems:
        reason = "the other personas have system prompts, so every one needs one"
    else:
        adapter = adapter_class(config.target.protocol)
        if adapter.supports_persona:
            return
        reason = f"protocol {config.target.protocol!r} has no persona switch of its own"
    raise ConfigError(f'{where(("personas", missing), "system")}: missing system = "...": {reason}')
