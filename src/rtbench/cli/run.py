"""`rtbench run` and `rtbench master`: run a scenario against a target and write a result bundle."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.console import console, escape, friendly_errors
from rtbench.cli.render import MAX_REGRESSION_HELP, print_check, print_run, render_report_of, run_hooks, warn
from rtbench.overrides import RunOverrides
from rtbench.workflow import gate, plan_run, run_benchmark, served_target, write_check_outputs

__all__ = ["app"]

app = typer.Typer()

ABORT_ON_HELP = (
    "Stop the run early once this SLO rule is lost (repeatable): an SLO's name (delivery, ttft) or one"
    " rule's label ('ttft p95'), from the run's SLOs. Judged every second over the run so far, once"
    " 50 turns have ended; latency and ratio SLOs only. The bundle is partial ('aborted: RULE"
    " breached') and the run exits 1, as for any SLO breached."
)
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
    duration: Annotated[
        str | None,
        typer.Option(
            help="Steady-state length after the ramp, e.g. 30s, 2m; with --requests or --conversations,"
            " a safety limit (default 1h)."
        ),
    ] = None,
    requests: Annotated[
        int | None,
        typer.Option(
            help="A fixed amount of work instead of a duration: end the run once N turns have ended"
            " (split over the load processes); every phase is reported, the ramp included."
        ),
    ] = None,
    conversations: Annotated[
        int | None,
        typer.Option(help="Like --requests, counting conversations of the scenario's \\[conversation] table."),
    ] = None,
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the bundle of an earlier run in --out (its files only).")
    ] = False,
    include_ramp: Annotated[
        bool | None, typer.Option("--include-ramp", help="Fold ramp and stop samples into the reported percentiles.")
    ] = None,
    target_pid: Annotated[int | None, typer.Option(help="Sample this local process's RSS and CPU.")] = None,
    target_metrics: Annotated[str | None, typer.Option(help="Scrape the target's Prometheus /metrics URL.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for prompt, persona and think-time draws.")] = None,
    export_turns: Annotated[
        bool | None,
        typer.Option(
            "--export-turns",
            help="Write turns.jsonl in the bundle: one line per turn that ended (ids, planned and actual send"
            " time, TTFT, E2E, input and output tokens, status, failure reason); no text.",
        ),
    ] = None,
    export_content: Annotated[
        bool | None,
        typer.Option(
            "--export-content",
            help="With the turns.jsonl rows (implies --export-turns), also the prompt and the response text.",
        ),
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(
            help="Replay this request trace open loop at its own times: JSONL (timestamp_ms, input_tokens,"
            " output_tokens, conversation_id), Mooncake JSONL or BurstGPT CSV. The run ends after its last row.",
            metavar="FILE",
        ),
    ] = None,
    trace_speed: Annotated[
        float | None,
        typer.Option(help="Replay the trace this many times faster than recorded (2.0: in half the time); > 0."),
    ] = None,
    slo: Annotated[
        Path | None, typer.Option(help="Gate the run on this \\[slo] TOML file (default: the scenario's \\[slo]).")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Gate the run against this baseline bundle's p50/p95/p99.")
    ] = None,
    max_regression: Annotated[list[str] | None, typer.Option(help=MAX_REGRESSION_HELP)] = None,
    abort_on: Annotated[list[str] | None, typer.Option(help=ABORT_ON_HELP, metavar="RULE")] = None,
    strict: Annotated[bool, typer.Option(help="Fail (exit 3) when the load generator was saturated.")] = False,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML of the gate.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown summary of the gate.")] = None,
    compression: Annotated[
        str | None,
        typer.Option(help="deflate: offer permessage-deflate on a WebSocket target, as browsers do; none: do not."),
    ] = None,
) -> None:
    overrides = RunOverrides(
        target=target,
        protocol=protocol,
        adapter=adapter,
        headers=tuple(header or ()),
        ca_file=str(ca_file) if ca_file else None,
        insecure=insecure,
        users=users,
        spawn_rate=spawn_rate,
        duration=duration,
        think_time=think_time,
        arrival=arrival,
        rate=rate,
        max_in_flight=max_in_flight,
        workers=workers,
        source_addrs=source_addrs,
        expect_workers=expect_workers,
        bind=bind,
        worker_wait=worker_wait,
        include_ramp=include_ramp,
        target_pid=target_pid,
        target_metrics=target_metrics,
        seed=seed,
        requests=requests,
        conversations=conversations,
        export_turns=export_turns,
        export_content=export_content,
        trace=trace,
        trace_speed=trace_speed,
        master=ctx.info_name == "master",
        compression=compression,
    )
    plan = plan_run(scenario, overrides, slo, abort_on or ())
    config, spec = plan.config, plan.spec
    with ExitStack() as stack:
        outage = None
        if serve:
            with console.status("starting the reference server"):
                served = stack.enter_context(served_target(config))
            config, outage = served.config, served.outage
            console.print(f"reference server: pid {served.server.pid}, {escape(config.target.url)}", highlight=False)
        elif config.faults.table:
            warn("[faults] apply only when rtbench starts the server (--serve)")
        outcome = run_benchmark(config, out, run_hooks(), outage, overwrite, plan.abort)
        print_run(outcome)
        render_report_of(outcome, baseline, spec)
    # gated with SLOs or not: a partial run, or one that did no work, exits 3 with one line
    result = gate(outcome.bundle_dir, outcome.summary, spec, baseline, max_regression or (), None, strict)
    if spec.rules or baseline is not None:
        print_check(result)
        write_check_outputs(result, junit, markdown)
    else:  # print_run has said the run is partial: one line for anything else that fails it
        unsaid = [p for p in result.outcome.problems if not p.startswith("partial bundle:")]
        if unsaid:
            console.print(f"[bold red]INVALID: {escape('; '.join(unsaid))}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(result.outcome.exit_code)
