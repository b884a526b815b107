"""Client memory per session with conversation history, at 10,000 sessions, side by side.

One reference server (`--procs 2`, TTFT 50 ms, 50 tokens per answer in frames of 10, a native
session keeps its context) and, one after another on the same load (N native sessions, a think
time of --think s, --steady s of steady state), three rtbench runs:

- `plain`: no `[conversation]` (each turn a lone prompt), the baseline;
- `full`: `[conversation] turns = 5, history = "full"`: by turn 5 a context holds 4 earlier turns
  of about 100 tokens each (a 50-word prompt and a 50-token answer);
- `bounded`: the same with `max_context_tokens = 250`: at most two earlier turns are kept.

It prints, for each: the client's RSS per session (rtbench's own figure: client RSS above its
start, divided by the sessions held), the server's RSS per session above its idle baseline, the
turns, the truncations, TTFT p50/p99 and whether the client flagged itself saturated; then the
ratios to `plain`. Only loopback traffic; each run is bounded in time.

    .venv/bin/python benchmarks/conversations.py [--sessions 10000] [--steady 60] [--think 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from rtbench.local_server import LocalServer

SERVER_FLAGS = ("--procs", "2", "--ttft-ms", "50", "--itl-ms", "5", "--tokens", "50", "--tokens-per-frame", "10")
SOURCE_ADDRS = "127.0.0.2-127.0.0.9"
PROMPT = " ".join(f"word{i}" for i in range(50))
VARIANTS: dict[str, str] = {
    "plain": "",
    "full": '[conversation]\nturns = 5\nhistory = "full"\n',
    "bounded": '[conversation]\nturns = 5\nhistory = "full"\nmax_context_tokens = 250\n',
}


def scenario(url: str, args: argparse.Namespace, tables: str) -> str:
    return f"""[scenario]
name = "conversations"
[target]
url = "{url}"
protocol = "native"
connect_timeout = "30s"
turn_timeout = "60s"
[load]
users = {args.sessions}
spawn_rate = {args.spawn_rate:g}
duration = "{args.steady:g}s"
think_time = "{args.think * 0.5:g}s..{args.think * 1.5:g}s"
workers = 1
source_addrs = "{SOURCE_ADDRS}"
[prompts]
texts = ["{PROMPT}"]
max_tokens = 50
{tables}"""


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def peak_rss(pid: int, stop: threading.Event, into: list[int]) -> None:
    while not stop.is_set():
        try:
            into.append(tree_rss(pid))
        except psutil.Error:
            pass
        stop.wait(1.0)


def measure(name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    with LocalServer(SERVER_FLAGS) as server:
        time.sleep(1.0)
        idle = tree_rss(server.pid)
        toml, bundle = out / f"{name}.toml", out / name
        toml.write_text(scenario(server.ws_url, args, VARIANTS[name]))
        server_rss: list[int] = []
        stop = threading.Event()
        sampler = threading.Thread(target=peak_rss, args=(server.pid, stop, server_rss), daemon=True)
        sampler.start()
        cmd = [sys.executable, "-m", "rtbench.cli", "run", str(toml), "--out", str(bundle)]
        with open(out / f"{name}.log", "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                proc.wait(timeout=args.sessions / args.spawn_rate + args.steady + 300)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop.set()
        sampler.join(timeout=5)
    summary = json.loads((bundle / "summary.json").read_text())
    ttft = summary["metrics"].get("ttft") or {}
    counters = summary.get("counters", {})
    return {
        "variant": name,
        "peak": summary["sessions"]["peak"],
        "turns": summary["delivery"]["turns_completed"],
        "delivery": summary["delivery"]["delivery_ratio"],
        "truncations": counters.get("context_truncations", 0),
        "conversations": counters.get("conversations_started", 0),
        "ttft_p50": ttft.get("p50"),
        "ttft_p99": ttft.get("p99"),
        "client_kb": summary["self_check"].get("client_rss_per_session_kb"),
        "server_kb": (max(server_rss) - idle) / 1024 / args.sessions if server_rss else None,
        "saturated": summary["self_check"]["saturated"],
        "partial": summary["partial_reason"],
    }


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--steady", type=float, default=60.0, help="steady state, s")
    parser.add_argument("--think", type=float, default=10.0, help="mean think time, s (drawn from 0.5x..1.5x)")
    parser.add_argument("--spawn-rate", type=float, default=500.0, help="users started per second")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rtbench-conversations-"))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.variants:
        print(f"# {name}: {args.sessions:,} sessions ...", file=sys.stderr, flush=True)
        results.append(measure(name, args, out))
        (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"conversations benchmark: {args.sessions:,} native sessions, think {args.think:g} s, bundles in {out}")
    columns = ("variant", "peak", "turns", "conversations", "truncations", "TTFT p50", "TTFT p99")
    print(" | ".join([*columns, "client KB/sess", "server KB/sess", "saturated"]))
    for r in results:
        cells = [r["variant"], f"{r['peak']:,}", f"{r['turns']:,}", f"{r['conversations']:,}", f"{r['truncations']:,}"]
        cells += [fmt(r["ttft_p50"]) + " ms", fmt(r["ttft_p99"]) + " ms", fmt(r["client_kb"]), fmt(r["server_kb"])]
        print(" | ".join([*cells, str(r["saturated"])]))
        if r["partial"]:
            print(f"  partial run ({r['variant']}): {r['partial']}")
    base = next((r for r in results if r["variant"] == "plain"), None)
    if base and base["client_kb"]:
        for r in results:
            if r is not base and r["client_kb"] is not None:
                extra = r["client_kb"] - base["client_kb"]
                print(
                    f"{r['variant']}: client {r['client_kb'] / base['client_kb']:.2f}x plain ({extra:+.1f} KB/session)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
