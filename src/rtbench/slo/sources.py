"""Where an SLO spec comes from: an `--slo` file, or the scenario's `[slo]` stored in a bundle."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rtbench.errors import ConfigError
from rtbench.slo.spec import SloSpec, parse_slo_table

__all__ = ["load_slo_file", "spec_from_summary"]


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such SLO file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_slo_file(path: str | Path) -> SloSpec:
    """The `[slo]` table of a TOML file (an SLO file or a whole scenario). One-line ConfigErrors."""
    path = Path(path)
    text, data = _read_toml(path)
    table = data.get("slo")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected an [slo] table")
    return parse_slo_table(table, str(path), text)


def spec_from_summary(summary: Mapping[str, Any], bundle: str | Path) -> SloSpec:
    """The scenario's SLOs stored in a bundle (`summary["config"]["slo"]`).

    Errors name the scenario file and line when that file still holds the same `[slo]` table,
    else the bundle's summary.json.
    """
    config = summary.get("config")
    table = config.get("slo", {}) if isinstance(config, Mapping) else {}
    source = f"{Path(bundle)} (summary.json config.slo)"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: expected a table")
    scenario = config.get("source_file") if isinstance(config, Mapping) else None
    if table and isinstance(scenario, str):
        try:
            text, data = _read_toml(Path(scenario))
        except ConfigError:
            pass
        else:
            if data.get("slo") == table:
                return parse_slo_table(table, scenario, text)
    return parse_slo_table(table, source)
