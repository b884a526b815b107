"""Scenario files: TOML in, a validated `RunConfig` out, with one-line errors naming file and key."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtbench.config import LoadConfig, RunConfig, TargetConfig, parse_duration
from rtbench.conversation_spec import Where, conversation_values, persona_values
from rtbench.errors import ConfigError
from rtbench.faults import ServerPlan, plan_server
from rtbench.overrides import RunOverrides, apply_overrides
from rtbench.prompts.spec import prompt_values
from rtbench.shape import compile_shape
from rtbench.toml_lines import key_line
from rtbench.trace.config import trace_values
from rtbench.trace.replay import load_trace
from rtbench.values import (
    at_least_one,
    boolean,
    compression,
    existing_file,
    expand_headers,
    non_empty_string,
    non_negative_int,
    parse_arrival,
    parse_think_time,
    parse_workers,
    positive_int,
    positive_number,
    probability,
    source_addrs,
    string_table,
    validate_target,
)

__all__ = ["check_open_loop", "load_scenario", "read_toml", "resolve"]


def check_open_loop(config: RunConfig, where: str) -> None:
    """Open-loop arrivals need a rate; a rate or in-flight cap needs open-loop arrivals."""
    load = config.load
    if load.arrival != "closed" and load.rate is None:
        raise ConfigError(f"{where}: {load.arrival} arrivals need a rate (turns/s), e.g. --rate 100")
    if load.arrival == "closed" and (load.rate is not None or load.max_in_flight is not None):
        raise ConfigError(f"{where}: a rate or max_in_flight needs open-loop arrivals (constant or poisson)")


# (section, key) -> (`WIRE_KEYS` key of the RunConfig field, parser)
_FIELDS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("scenario", "name"): ("scenario", non_empty_string),
    ("scenario", "seed"): ("seed", non_negative_int),
    ("target", "url"): ("target", lambda v: validate_target(non_empty_string(v))),
    ("target", "protocol"): ("protocol", non_empty_string),
    ("target", "connect_timeout"): ("connect_timeout", parse_duration),
    ("target", "turn_timeout"): ("turn_timeout", parse_duration),
    ("target", "first_token_timeout"): ("first_token_timeout", parse_duration),
    ("target", "idle_timeout"): ("idle_timeout", parse_duration),
    ("target", "down_after"): ("down_after", parse_duration),
    ("target", "headers"): ("headers", string_table),
    ("target", "ca_file"): ("ca_file", existing_file),
    ("target", "insecure"): ("insecure", lambda v: boolean(v)),
    ("target", "pid"): ("target_pid", positive_int),
    ("target", "metrics_url"): ("target_metrics", non_empty_string),
    ("target", "compression"): ("compression", compression),
    ("load", "users"): ("users", positive_int),
    ("load", "spawn_rate"): ("spawn_rate", positive_number),
    ("load", "duration"): ("duration", parse_duration),
    ("load", "workers"): ("workers", lambda v: parse_workers(v)),
    ("load", "source_addrs"): ("source_addrs", lambda v: source_addrs(v)),
    ("load", "arrival"): ("arrival", lambda v: parse_arrival(v)),
    ("load", "rate"): ("rate", positive_number),
    ("load", "max_in_flight"): ("max_in_flight", positive_int),
    ("load", "stop_grace"): ("stop_grace", parse_duration),
    ("load", "include_ramp"): ("include_ramp", lambda v: boolean(v)),
    ("load", "requests"): ("requests", positive_int),
    ("load", "conversations"): ("conversations", positive_int),
    ("recovery", "enabled"): ("recovery", lambda v: boolean(v)),
    ("recovery", "backoff_initial"): ("recovery_backoff_initial", parse_duration),
    ("recovery", "backoff_max"): ("recovery_backoff_max", parse_duration),
    ("recovery", "backoff_multiplier"): ("recovery_backoff_multiplier", at_least_one),
    ("recovery", "jitter"): ("recovery_jitter", probability),
    ("recovery", "max_retries"): ("recovery_max_retries", positive_int),
    ("output", "turns"): ("export_turns", lambda v: boolean(v)),
    ("output", "content"): ("export_content", lambda v: boolean(v)),
}
_SPECIAL_KEYS = {("load", "think_time"), ("load", "pacing")}
_FREE_SECTIONS = {"slo", "faults", "server", "adapter", "shape"}
#: Sections with a parser of their own (`rtbench.conversation_spec`).
_OWN_SECTIONS = {"conversation": conversation_values, "personas": persona_values, "trace": trace_values}
#: A trace run with no duration given stops at the latest this long after the trace's last send.
TRACE_TAIL_S = 5.0


def read_toml(path: Path, kind: str) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and table; a missing, unreadable or invalid file is a one-line
    `ConfigError` naming the file (`kind` says what it should be, e.g. "scenario")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {kind} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_scenario(path: str | Path, overrides: RunOverrides | None = None) -> RunConfig:
    """Read and validate a scenario file. Every problem is a `ConfigError` with one line."""
    path = Path(path)
    text, data = read_toml(path, "scenario")
    return resolve(data, overrides, source=str(path), text=text)


def locator(source: str, text: str) -> Where:
    """Names a key for errors: "file:line: [table].key" (the line when it can be found in `text`)."""

    def where(table: tuple[str, ...], key: str) -> str:
        line = key_line(text, table, key) if text else None
        place = f"{source}:{line}" if line is not None else source
        return f"{place}: [{'.'.join(table)}]" + (f".{key}" if key else "")

    return where


def resolve(
    table: dict[str, Any], overrides: RunOverrides | None = None, source: str = "<scenario>", text: str = ""
) -> RunConfig:
    """The one place a run's configuration is parsed: a scenario table, then the options the user
    typed (`overrides`), into a checked `RunConfig` with its shape, faults and server flags
    derived. Every problem is a one-line `ConfigError` naming the file, line and key, or the
    option (`text`, the file's text, gives the lines)."""
    values = _scenario_values(table, source, locator(source, text))
    if values.get("trace_file") and not Path(values["trace_file"]).is_absolute() and source != "<scenario>":
        values["trace_file"] = str(Path(source).parent / values["trace_file"])  # beside the scenario
    given = apply_overrides(values, overrides or RunOverrides())
    _fixed_work(values, given, source)
    _check_trace(values, given, source)
    plan = _server_plan(values, source)
    spec = None
    if values["shape"]:
        spawn_rate = values.get("spawn_rate", LoadConfig.spawn_rate)
        spec = compile_shape(values["shape"], spawn_rate, parse_duration, f"{source}: [shape]")
        values.update({"users": spec.peak_users, "duration": spec.duration})
        values.update({key: given[key] for key in ("users", "duration") if key in given})
    config = RunConfig.assemble(values, spec, plan)
    open_loop_options = {"arrival", "rate", "max_in_flight"} & given.keys()
    check_open_loop(config, "--arrival/--rate" if open_loop_options else f"{source}: [load]")
    if config.target.compression is not None and not config.target.url.startswith(("ws:", "wss:")):
        where = "--compression" if "compression" in given else f"{source}: [target].compression"
        raise ConfigError(f"{where}: permessage-deflate is for ws:// and wss:// targets only")
    return config


#: With a fixed amount of work, the duration is only a safety limit: this one unless one is given.
FIXED_WORK_LIMIT_S = 3600.0


def _fixed_work(values: dict[str, Any], given: dict[str, Any], source: str) -> None:
    """`requests` or `conversations` (an option wins over the scenario's other one): every phase
    is reported, so that all N are in the figures, and the duration becomes a safety limit."""
    units = ("requests", "conversations")
    if all(unit in given for unit in units):
        raise ConfigError("--requests and --conversations: give one of the two")
    for unit, other in (units, units[::-1]):
        if unit in given:
            values.pop(other, None)
    if all(unit in values for unit in units):
        raise ConfigError(f"{source}: [load]: give requests or conversations, not both")
    chosen = next((u for u in units if u in values), None)
    if chosen is None:
        return
    where = f"--{chosen}" if chosen in given else f"{source}: [load].{chosen}"
    if values.get("shape"):
        raise ConfigError(f"{where}: a fixed amount of work cannot follow a [shape]; use users and duration")
    if chosen == "conversations" and not values.get("conversation"):
        raise ConfigError(f"{where}: counts [conversation]s; the scenario has no [conversation] table")
    values.setdefault("duration", FIXED_WORK_LIMIT_S)
    values["include_ramp"] = True


def _check_trace(values: dict[str, Any], given: dict[str, Any], source: str) -> None:
    """A trace sets its own send times and amount of work: read it now (its errors name the
    trace's line), report every phase, and stop by default once its last row has had its turn
    timeout (a duration given caps the run instead)."""
    if not values.get("trace_file"):
        if "trace_speed" in given:
            raise ConfigError("--trace-speed: needs a trace (--trace FILE or [trace] file)")
        return
    where = "--trace" if "trace_file" in given else f"{source}: [trace]"
    options = ("arrival", "rate", "max_in_flight", "requests", "conversations")
    clashes = [key for key in options if values.get(key) not in (None, "closed")]
    if clashes or values.get("shape"):
        what = ", ".join(clashes) if clashes else "[shape]"
        raise ConfigError(f"{where}: a trace sets its own send times; it cannot be combined with {what}")
    trace = load_trace(values["trace_file"])
    values["include_ramp"] = True
    if "duration" not in values:
        speed = values.get("trace_speed", 1.0)
        timeout = values.get("turn_timeout", TargetConfig.turn_timeout)
        values["duration"] = trace.span_ms / 1000.0 / speed + timeout + TRACE_TAIL_S


def _scenario_values(data: dict[str, Any], source: str, locate: Where) -> dict[str, Any]:
    """The scenario's values, keyed as `WIRE_KEYS`, each parsed and checked."""
    values: dict[str, Any] = {"source_file": source, "scenario": Path(source).stem}
    for section, table in data.items():
        if section in _FREE_SECTIONS:
            continue
        if section in _OWN_SECTIONS:
            values.update(_OWN_SECTIONS[section](table, locate))
            continue
        if section == "prompts":
            values.update(prompt_values(table, locate, _folder(source)))
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{locate((section,), '')}: expected a table")
        for key, raw in table.items():
            where = locate((section,), key)
            if (section, key) in _SPECIAL_KEYS:
                continue
            if (section, key) not in _FIELDS:
                raise ConfigError(f"{where}: unknown key")
            name, parse = _FIELDS[(section, key)]
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{where}: expected {exc}, got {raw!r}") from None
    load = data.get("load", {})
    if "think_time" in load or "pacing" in load:
        where = locate(("load",), "think_time" if "think_time" in load else "pacing")
        try:
            pacing = boolean(load.get("pacing", False))
            values["think_time"] = parse_think_time(load.get("think_time", 1.0), pacing)
        except ValueError as exc:
            raise ConfigError(f"{where}: expected {exc}, got {load.get('think_time')!r}") from None
    if "prompt_file" in values and "conversation_turns" in values:
        where = locate(("conversation",), "turns")
        raise ConfigError(f"{where}: a dataset ([prompts] file) sets each conversation's turns; remove one of them")
    if values.get("persona_systems"):
        values["conversation"] = True  # system prompts travel with a conversation's context
    if "headers" in values:
        values["headers"], values["secret_headers"] = expand_headers(values["headers"], f"{source}: [target].headers")
    for section, key in (("slo", "slo"), ("adapter", "adapter_options"), ("shape", "shape"), ("server", "server")):
        values[key] = _table(data, section, source)
    values["faults"] = _table(data, "faults", source)
    return values


def _folder(source: str) -> Path:
    """Where a scenario's relative paths start: its file's folder (the working one without a file)."""
    path = Path(source)
    return path.resolve().parent if path.is_file() else Path.cwd()


def _table(data: dict[str, Any], section: str, source: str) -> dict[str, Any]:
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{section}]: expected a table")
    return table


def _server_plan(values: dict[str, Any], source: str) -> ServerPlan:
    """`[server]` and `[faults]` as the plan for a server rtbench starts, checked by the server's parser."""
    try:
        return plan_server(values["server"], values["faults"], parse_duration)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
