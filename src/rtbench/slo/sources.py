"""Where an SLO spec comes from: an `--slo` file, or the scenario's `[slo]` stored in a bundle."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rtbench.bundle.summary_types import Summary
from rtbench.errors import ConfigError
from rtbench.scenario import read_toml
from rtbench.slo.spec import SloSpec, parse_slo_table

__all__ = ["load_slo_file", "read_slo_file", "spec_from_summary", "spec_from_scenario_table"]


def load_slo_file(path: str | Path) -> SloSpec:
    """The `[slo]` table of a TOML file (an SLO file or a whole scenario). One-line ConfigErrors."""
    return read_slo_file(path)[1]


def read_slo_file(path: str | Path) -> tuple[dict[str, Any], SloSpec]:
    """A TOML file's `[slo]` table as written, and parsed. One-line ConfigErrors."""
    path = Path(path)
    text, data = read_toml(path, "SLO")
    table = data.get("slo")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected an [slo] table")
    return table, parse_slo_table(table, str(path), text)


def spec_from_scenario_table(table: Mapping[str, Any], scenario: str | None, fallback_source: str = "") -> SloSpec:
    """Parse a scenario's `[slo]` table (`RunConfig.slo`, read from `scenario`, its source file).

    Errors name the scenario file and line when that file still holds the same table, else
    `fallback_source` (default: the scenario's name) without a line.
    """
    if table and scenario is not None:
        try:
            text, data = read_toml(Path(scenario), "scenario")
        except ConfigError:
            pass
        else:
            if data.get("slo") == table:
                return parse_slo_table(table, scenario, text)
    return parse_slo_table(table, fallback_source or str(scenario or "<scenario>"))


def spec_from_summary(summary: Summary | None, bundle: str | Path) -> SloSpec:
    """The scenario's SLOs stored in a bundle (`summary["config"]["slo"]`; none without a
    summary); errors name the scenario file and line when it is unchanged, else the bundle's
    summary.json."""
    found = summary.get("config") if summary is not None else None
    config: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    table = config.get("slo", {})
    source = f"{Path(bundle)} (summary.json config.slo)"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: expected a table")
    scenario = config.get("source_file")
    return spec_from_scenario_table(table, scenario if isinstance(scenario, str) else None, source)
