"""How many sessions one 2-core machine holds: client and reference server side by side.

For each N (default 10k, 25k, 50k) this starts `python -m reference_server` (TTFT 50 ms, ITL 10 ms,
20 tokens) with `--procs max(2, ceil(N / 18000))` (each process may open 20,000 files here), runs
`rtbench run` with N users, a 30 s think time and a 120 s steady state, `--workers auto` and
`--source-addrs 127.0.0.2-127.0.0.9`, and prints:

- connect errors; connect p95 during the ramp; the ramp's wall time;
- the steady TTFT overhead over the injected 50 ms, at p50 and p99;
- client and server RSS per session (server: RSS above its idle baseline / N);
- the mean CPU of each process over the steady state, in % of one core.

Goal (issue 6): 50,000 sessions, 0 errors, <= +2 ms TTFT overhead at p50, <= ~25 KB per session on
the client and <= 16 KB on the server. Only loopback traffic; each run is bounded in time.

Measured here (2026-11-28): 10k held with 0 errors, ramp connect p95 8.7 ms, TTFT +0.98 / +5.42 ms
(p50/p99), client 31.3 KB and server 22.1 KB per session. 25k held with 0 errors but the two cores
were ~190% busy (TTFT +8.5 p50, self-check flagged). 50k needs ~1,667 turns/s at a 30 s think time,
more than the cores give: one run held all 50,000 after 2,986 failed connects, another peaked at
42,840; TTFT +68..92 ms p50.

    .venv/bin/python benchmarks/sessions.py [--sessions 10000 25000 50000] [--steady 120] [--think 30]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from rtbench.local_server import LocalServer

TTFT_MS = 50.0
SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
SOURCE_ADDRS = "127.0.0.2-127.0.0.9"
FDS_PER_SERVER_PROCESS = 18_000


class TreeSampler:
    """Every second: CPU % and RSS of each process under the given roots (by name and PID)."""

    def __init__(self) -> None:
        self.roots: dict[str, int] = {}
        self.samples: list[tuple[float, dict[str, tuple[float, int]]]] = []
        self._stop = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _tree(self) -> dict[str, psutil.Process]:
        found = {}
        for role, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                members = [root] + root.children(recursive=True)
            except psutil.Error:
                continue
            for proc in members:
                cached = self._procs.setdefault(proc.pid, proc)
                found[f"{role}:{proc.pid}"] = cached
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = {}
            for key, proc in self._tree().items():
                try:
                    sample[key] = (proc.cpu_percent(None), proc.memory_info().rss)
                except psutil.Error:
                    continue
            self.samples.append((time.time(), sample))
            self._stop.wait(1.0)

    def window(self, start: float, end: float) -> list[dict[str, tuple[float, int]]]:
        return [s for t, s in self.samples if start <= t <= end]


def rss_of(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root] + root.children(recursive=True))


def scenario(url: str, sessions: int, steady: float, think: float, spawn_rate: float) -> str:
    return f"""[scenario]
name = "sessions-{sessions}"
[target]
url = "{url}"
protocol = "native"
connect_timeout = "30s"
turn_timeout = "60s"
[load]
users = {sessions}
spawn_rate = {spawn_rate:g}
duration = "{steady:g}s"
think_time = "{think * 0.5:g}s..{think * 1.5:g}s"
workers = "auto"
source_addrs = "{SOURCE_ADDRS}"
[prompts]
texts = ["Explain tail latency to a new engineer."]
"""


def measure(sessions: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    procs = max(2, math.ceil(sessions / FDS_PER_SERVER_PROCESS))
    with LocalServer(("--procs", str(procs), *SERVER_FLAGS)) as server:
        time.sleep(1.0)
        idle_server = rss_of(server.pid)
        bundle = out / f"n{sessions}"
        toml = out / f"n{sessions}.toml"
        toml.write_text(scenario(server.ws_url, sessions, args.steady, args.think, args.spawn_rate))
        sampler = TreeSampler()
        sampler.roots["server"] = server.pid
        log = open(out / f"n{sessions}.log", "w")
        cmd = [
            sys.executable,
            "-m",
            "rtbench.cli",
            "run",
            str(toml),
            "--out",
            str(bundle),
            "--target-pid",
            str(server.pid),
        ]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        sampler.roots["client"] = proc.pid
        sampler.start()
        limit = sessions / args.spawn_rate + args.steady + 300
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sampler.stop()
        log.close()
    summary = json.loads((bundle / "summary.json").read_text())
    steady = summary["phases"]["steady"]
    settle = min(5.0, (steady["end"] - steady["start"]) / 4)
    window = sampler.window(steady["start"] + settle, steady["end"])
    cpu: dict[str, list[float]] = {}
    server_rss = []
    for sample in window:
        server_rss.append(sum(rss for key, (_, rss) in sample.items() if key.startswith("server:")))
        for key, (percent, _) in sample.items():
            cpu.setdefault(key, []).append(percent)
    counters = summary.get("counters", {})
    ramp_connect = (summary["metrics_by_phase"].get("ramp") or {}).get("connect") or {}
    ttft = summary["metrics"].get("ttft") or {}
    return {
        "sessions": sessions,
        "server_procs": procs,
        "workers": summary["config"]["workers"],
        "peak": summary["sessions"]["peak"],
        "connect_errors": counters.get("connect_failed", 0) + counters.get("session_timeout", 0),
        "connect_errors_by_kind": {
            **summary["delivery"].get("connect_failed_by_kind", {}),
            **({"session_timeout": counters["session_timeout"]} if counters.get("session_timeout") else {}),
        },
        "connect_p95_ramp_ms": ramp_connect.get("p95"),
        "ramp_s": summary["phases"]["ramp"]["end"] - summary["phases"]["ramp"]["start"],
        "ttft_over_p50_ms": None if ttft.get("p50") is None else ttft["p50"] - TTFT_MS,
        "ttft_over_p99_ms": None if ttft.get("p99") is None else ttft["p99"] - TTFT_MS,
        "turns": summary["delivery"]["turns_completed"],
        "delivery": summary["delivery"]["delivery_ratio"],
        "client_kb_per_session": summary["self_check"].get("client_rss_per_session_kb"),
        "server_kb_per_session": (max(server_rss) - idle_server) / 1024 / sessions if server_rss else None,
        "cpu_percent": {key: round(sum(v) / len(v), 1) for key, v in sorted(cpu.items())},
        "saturated": summary["self_check"]["saturated"],
        "partial": summary["partial_reason"],
    }


def fmt(value: Any, spec: str = ".1f", sign: bool = False) -> str:
    if value is None:
        return "-"
    return format(value, ("+" if sign else "") + spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[10_000, 25_000, 50_000])
    parser.add_argument("--steady", type=float, default=120.0, help="steady state, s")
    parser.add_argument("--think", type=float, default=30.0, help="mean think time, s (drawn from 0.5x..1.5x)")
    parser.add_argument("--spawn-rate", type=float, default=500.0, help="users started per second")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rtbench-sessions-"))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for n in args.sessions:
        print(f"# {n:,} sessions ...", file=sys.stderr, flush=True)
        results.append(measure(n, args, out))
        (out / "results.json").write_text(json.dumps(results, indent=2))
    print(
        f"sessions benchmark: think {args.think:g} s, steady {args.steady:g} s,"
        f" spawn {args.spawn_rate:g}/s; bundles in {out}"
    )
    header = (
        "sessions",
        "peak",
        "errors",
        "connect p95 ramp",
        "ramp s",
        "TTFT +p50",
        "TTFT +p99",
        "client KB/sess",
        "server KB/sess",
        "delivery",
        "saturated",
    )
    print(" | ".join(header))
    for r in results:
        print(
            " | ".join(
                [
                    f"{r['sessions']:,}",
                    f"{r['peak']:,}",
                    str(r["connect_errors"]),
                    fmt(r["connect_p95_ramp_ms"]) + " ms",
                    fmt(r["ramp_s"]),
                    fmt(r["ttft_over_p50_ms"], ".2f", True),
                    fmt(r["ttft_over_p99_ms"], ".2f", True),
                    fmt(r["client_kb_per_session"]),
                    fmt(r["server_kb_per_session"]),
                    fmt(None if r["delivery"] is None else r["delivery"] * 100, ".3f") + "%",
                    str(r["saturated"]),
                ]
            )
        )
    for r in results:
        cpu = ", ".join(f"{key} {value:.0f}%" for key, value in r["cpu_percent"].items())
        print(f"CPU at {r['sessions']:,} (server procs {r['server_procs']}, load processes {r['workers']}): {cpu}")
        if r["connect_errors"]:
            kinds = ", ".join(f"{kind} {n:,}" for kind, n in r["connect_errors_by_kind"].items())
            print(f"  connect errors at {r['sessions']:,}: {kinds}")
        if r["partial"]:
            print(f"  partial run at {r['sessions']:,}: {r['partial']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
