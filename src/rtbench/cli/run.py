"""`rtbench run`: drive a Locust swarm against a target and write a result bundle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rtbench.bundle.summary_types import Summary
from rtbench.cli.check import gate
from rtbench.cli.compare import MAX_REGRESSION_HELP
from rtbench.cli.console import console, err_console, escape, friendly_errors
from rtbench.cli.display import LiveDisplay, summary_table
from rtbench.config import RunConfig
from rtbench.errors import ConfigError, RtbenchError
from rtbench.metrics.names import error_frame_code
from rtbench.preflight import check_source_addrs, machine_limits, plan
from rtbench.reachability import check_reachable
from rtbench.scenario import (
    check_open_loop,
    expand_headers,
    load_scenario,
    parse_arrival,
    parse_duration,
    parse_header,
    parse_host_port,
    parse_source_addrs,
    parse_think_time,
    parse_workers,
    read_toml,
    validate_target,
)
from rtbench.slo.sources import load_slo_file, spec_from_scenario_table
from rtbench.slo.spec import SloSpec, turn_limits

__all__ = ["app", "execute", "resolve_scenario", "default_out_dir"]

app = typer.Typer()

DEFAULT_SCENARIO = Path("scenarios/chat.toml")
EXIT_PARTIAL = 3


def resolve_scenario(path: Path | None) -> Path:
    """The given scenario, or `scenarios/chat.toml` here or in rtbench's source tree."""
    if path is not None:
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / DEFAULT_SCENARIO
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no scenario given and no {DEFAULT_SCENARIO} found")


def default_out_dir(scenario: str) -> Path:
    return Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario}"


def _option(parse: Any, value: Any, flag: str) -> Any:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: expected {exc}, got {value!r}") from None


DEFAULT_MASTER_BIND = "0.0.0.0:5557"


def _checked_bind(value: str) -> str:
    parse_host_port(value)
    return value


def _with_headers(config: RunConfig, values: list[str]) -> RunConfig:
    """`config` with `--header` values added (replacing scenario headers of the same name)."""
    if not values:
        return config
    pairs = tuple(_option(parse_header, value, "--header") for value in values)
    added, secret = expand_headers(pairs, "--header")
    names = {name.lower() for name, _ in added}
    kept = tuple(pair for pair in config.headers if pair[0].lower() not in names)
    return config.replace(headers=kept + added, secret_headers=config.secret_headers + secret)


def with_slo(config: RunConfig, slo_file: Path | None) -> tuple[RunConfig, SloSpec]:
    """Validate the SLOs before the run (from `slo_file`, else the scenario's [slo]) and hand the
    per-turn limits to the engine for goodput. `slo_file`'s table replaces the scenario's."""
    if slo_file is not None:
        spec = load_slo_file(slo_file)
        config = config.replace(slo=read_toml(slo_file, "SLO")[1]["slo"])
    else:
        spec = spec_from_scenario_table(config.slo, config.source_file)
    return config.replace(turn_limits_ms=tuple(turn_limits(spec).items())), spec


def execute(
    config: RunConfig,
    out: Path | None,
    baseline: Path | None = None,
    spec: SloSpec | None = None,
    outage: Any = None,
) -> tuple[Summary, Path, int]:
    """Run with a live display, print the summary, render the report, and return
    (summary, bundle dir, exit code)."""
    config = preflight(config)
    check_reachable(config.target, timeout=min(config.connect_timeout, 5.0))
    from rtbench.load.runner import run_load  # imports locust, which monkey-patches the stdlib

    out_dir = out or default_out_dir(config.scenario)
    with LiveDisplay(console) as display:
        result = run_load(config, out_dir, on_tick=display.update, on_warning=display.warn, outage=outage)
    console.print(summary_table(result.summary))
    delivery = result.summary["delivery"]
    console.print(
        f"turns: {delivery['turns_completed']:,} completed of {delivery['turns_sent']:,} sent,"
        f" delivery {_percent(delivery['delivery_ratio'])}; sessions peak {result.summary['sessions']['peak']:,}",
        highlight=False,
    )
    failures = _failure_line(result.summary)
    if failures:
        err_console.print(f"[yellow]failed turns:[/] {escape(failures)}", highlight=False)
    connect_failures = _connect_failure_line(result.summary)
    if connect_failures:
        err_console.print(f"[yellow]failed connects:[/] {escape(connect_failures)}", highlight=False)
    for warning in result.summary.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    console.print(f"bundle: {escape(str(result.bundle_dir))}", highlight=False)
    _render(result.bundle_dir, baseline, spec)
    if result.partial:
        err_console.print(f"[bold red]partial run:[/] {escape(str(result.partial_reason))}", highlight=False)
        return result.summary, result.bundle_dir, EXIT_PARTIAL
    return result.summary, result.bundle_dir, 0


def preflight(config: RunConfig) -> RunConfig:
    """Check that the sessions fit this machine (one-line error if not), resolve --workers auto,
    and print what deserves a warning."""
    check_source_addrs(config.source_addrs)
    if config.expect_workers:
        return config  # the workers' machines have limits of their own
    resolved = plan(config.users, config.workers or None, config.source_addrs, machine_limits())
    for warning in resolved.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if config.workers != resolved.workers:
        console.print(f"workers: {resolved.workers} load processes", highlight=False)
    return config.replace(workers=resolved.workers)


def _render(bundle: Path, baseline: Path | None, spec: SloSpec | None) -> None:
    """Write report.html; a report that cannot be drawn must not cost the run its bundle."""
    from rtbench.report import render_report

    try:
        with console.status("rendering the report"):
            path = render_report(bundle, baseline, spec)
    except RtbenchError as exc:
        err_console.print(f"[yellow]warning:[/] no report: {escape(str(exc))}", highlight=False)
    else:
        console.print(f"report: {escape(str(path))}", highlight=False)


def _failure_line(summary: Summary, most: int = 5) -> str:
    """ "timeout 3, error 12 (http_404 12)": failed turns by kind, and the commonest error codes."""
    failed = {kind: n for kind, n in summary["delivery"].get("failed", {}).items() if n}
    if not failed:
        return ""
    codes = sorted(
        ((code, n) for name, n in summary.get("counters", {}).items() if (code := error_frame_code(name)) is not None),
        key=lambda item: -item[1],
    )[:most]
    line = ", ".join(f"{kind} {n:,}" for kind, n in failed.items())
    return line + (f" (error codes: {', '.join(f'{code} {n:,}' for code, n in codes)})" if codes else "")


def _connect_failure_line(summary: Summary) -> str:
    """ "timeout 2,986, refused 3": failed connection attempts by kind."""
    by_kind = summary["delivery"].get("connect_failed_by_kind", {})
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(by_kind.items(), key=lambda item: -item[1]))


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.3f}%"


MASTER_HELP = (
    "Run a scenario as the master of workers on other machines (`rtbench worker --master HOST:PORT`):"
    " waits for --expect-workers, then runs like `rtbench run` and merges every worker's histograms."
)


@app.command(help="Run a scenario against a target: live progress, then a result bundle in --out.")
@app.command("master", help=MASTER_HELP)
@friendly_errors
def run(
    ctx: typer.Context,
    scenario: Annotated[Path | None, typer.Argument(help="Scenario TOML file (default scenarios/chat.toml).")] = None,
    target: Annotated[str | None, typer.Option(help="Target URL, e.g. ws://127.0.0.1:8765/ws.")] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Start the reference server for this run, with the scenario's \\[server] options and \\[faults].",
        ),
    ] = False,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="Protocol adapter: native, openai-chat, openai-realtime, ws-json, or an installed plugin's name."
        ),
    ] = None,
    adapter: Annotated[
        str | None, typer.Option(help="A custom adapter class, as package.module:ClassName (overrides --protocol).")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra request header 'Name: value' (repeatable);"
            " ${VAR} reads the environment, and such values are redacted."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="CA bundle to verify a wss:// or https:// target with.", exists=True, dir_okay=False),
    ] = None,
    insecure: Annotated[
        bool | None, typer.Option("--insecure", help="Do not verify the TLS certificate of the target.")
    ] = None,
    users: Annotated[int | None, typer.Option(help="Simulated users (one session each).", min=1)] = None,
    spawn_rate: Annotated[float | None, typer.Option(help="Users started per second.", min=0.001)] = None,
    duration: Annotated[str | None, typer.Option(help="Steady-state length after the ramp, e.g. 30s, 2m.")] = None,
    think_time: Annotated[str | None, typer.Option(help="Pause between turns, e.g. 2s or 1s..3s.")] = None,
    arrival: Annotated[
        str | None,
        typer.Option(
            help="closed (think time, the default), or open loop: constant or poisson arrivals at --rate,"
            " measured from their planned send times."
        ),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Open loop: turns per second, over all users.", min=0.001)] = None,
    max_in_flight: Annotated[
        int | None, typer.Option(help="Open loop: the most turns in flight at once.", min=1)
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            help="Load processes on this machine: N (1 = in-process) or auto (as many as the open-file limit needs)."
        ),
    ] = None,
    source_addrs: Annotated[
        str | None,
        typer.Option(
            help="Open connections from these local addresses, e.g. 127.0.0.2-127.0.0.9"
            " (more than ~14k connections to one target need several)."
        ),
    ] = None,
    expect_workers: Annotated[
        int | None,
        typer.Option(
            help="Wait for this many `rtbench worker` processes (any machine) instead of starting local ones.", min=1
        ),
    ] = None,
    bind: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT the master listens on for workers (default 127.0.0.1, any port; master: 0.0.0.0:5557)."
        ),
    ] = None,
    worker_wait: Annotated[
        str | None, typer.Option(help="How long to wait for --expect-workers to connect, e.g. 5m.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Bundle directory (default reports/<time>-<scenario>/).")] = None,
    include_ramp: Annotated[
        bool | None, typer.Option("--include-ramp", help="Fold ramp and stop samples into the reported percentiles.")
    ] = None,
    target_pid: Annotated[int | None, typer.Option(help="Sample this local process's RSS and CPU.")] = None,
    target_metrics: Annotated[str | None, typer.Option(help="Scrape the target's Prometheus /metrics URL.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for prompt, persona and think-time draws.")] = None,
    slo: Annotated[
        Path | None, typer.Option(help="Gate the run on this \\[slo] TOML file (default: the scenario's \\[slo]).")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Gate the run against this baseline bundle's p50/p95/p99.")
    ] = None,
    max_regression: Annotated[list[str] | None, typer.Option(help=MAX_REGRESSION_HELP)] = None,
    strict: Annotated[bool, typer.Option(help="Fail (exit 3) when the load generator was saturated.")] = False,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML of the gate.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown summary of the gate.")] = None,
) -> None:
    config = load_scenario(resolve_scenario(scenario))
    think = _option(lambda v: parse_think_time(v, config.think_time.pacing), think_time, "--think-time")
    if ctx.info_name == "master" and not expect_workers:
        raise ConfigError("rtbench master needs --expect-workers N (the number of `rtbench worker` processes)")
    if expect_workers and bind is None and ctx.info_name == "master":
        bind = DEFAULT_MASTER_BIND
    config = _with_headers(config, header or [])
    config = config.replace(
        target=_option(validate_target, target, "--target"),
        protocol=adapter or protocol,
        ca_file=str(ca_file) if ca_file else None,
        insecure=insecure,
        users=users,
        spawn_rate=spawn_rate,
        duration=_option(parse_duration, duration, "--duration"),
        think_time=think,
        arrival=_option(parse_arrival, arrival, "--arrival"),
        rate=rate,
        max_in_flight=max_in_flight,
        workers=_option(parse_workers, workers, "--workers"),
        source_addrs=_option(parse_source_addrs, source_addrs, "--source-addrs"),
        expect_workers=expect_workers,
        master_bind=_option(_checked_bind, bind, "--bind"),
        worker_wait=_option(parse_duration, worker_wait, "--worker-wait"),
        include_ramp=include_ramp,
        target_pid=target_pid,
        target_metrics=target_metrics,
        seed=seed,
    )
    check_open_loop(config, "--arrival/--rate")
    config, spec = with_slo(config, slo)
    if serve:
        from rtbench.cli.served import served_target

        with served_target(config) as (served, outage):
            summary, bundle, code = execute(served, out, baseline, spec, outage)
    else:
        if config.faults:
            err_console.print(
                "[yellow]warning:[/] \\[faults] apply only when rtbench starts the server (--serve)", highlight=False
            )
        summary, bundle, code = execute(config, out, baseline, spec)
    if spec.rules or baseline is not None:
        code = gate(bundle, summary, spec, baseline, max_regression, None, strict, junit, markdown)
    raise typer.Exit(code)
