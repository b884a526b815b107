"""Does the self-check see a starved client? One scenario run quiet, then beside CPU burners.

For each case ("quiet", then "N burners") this starts the reference server (`--procs 2`, the
latency model below), starts the burners (`python -c "while True: pass"`, each pinned to one core
with `os.sched_setaffinity`), runs `rtbench run SCENARIO --target <server> --target-pid <server>`,
kills the burners by PID once summary.json is written (the report then renders on a free
machine), and prints the self-check side by side: saturated and starved, untrusted seconds, the
share of turns measured in them, the longest stall, the run-queue wait (ms per second, and mean ms
per run) of the most starved load process, the machine's CPU, the client's own CPU, TTFT p50/p99.

Issue 12's check: scenarios/capacity-10k.toml beside two burners is flagged, quiet it is not.
Run it on an otherwise quiet machine (each case is bounded in time; loopback only):

    .venv/bin/python benchmarks/starved.py [--scenario scenarios/capacity-10k.toml] [--burners 2]
        [--users N --duration 60s --spawn-rate R --workers W]  [--out DIR]

A smoke run with small numbers: `--users 50 --duration 4s --spawn-rate 50 --workers 1`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rtbench.local_server import LocalServer

ROOT = Path(__file__).resolve().parents[1]
#: The reference server's latency model: TTFT 30 ms, ITL 10 ms, 20 tokens.
SERVER_FLAGS = ("--procs", "2", "--ttft-ms", "30", "--itl-ms", "10", "--tokens", "20")
BURNER = "import os\nos.sched_setaffinity(0, {%d})\nwhile True:\n    pass\n"
ROWS = (
    ("exit code", "exit"),
    ("saturated", "saturated"),
    ("starved", "starved"),
    ("untrusted seconds", "untrusted"),
    ("turns in untrusted seconds", "share"),
    ("longest stall (lag max), ms", "client_lag_max_ms"),
    ("client lag p99, ms", "client_lag_p99_ms"),
    ("run-queue wait max, ms/s", "client_runq_ms_max"),
    ("run-queue wait mean, ms/s", "client_runq_ms_mean"),
    ("wait per run max, ms", "client_runq_delay_ms_max"),
    ("wait per run mean, ms", "client_runq_delay_ms_mean"),
    ("machine CPU max, %", "machine_cpu_max"),
    ("machine CPU mean, %", "machine_cpu_mean"),
    ("client CPU mean, %", "client_cpu_mean"),
    ("TTFT p50, ms", "ttft_p50"),
    ("TTFT p99, ms", "ttft_p99"),
    ("sessions peak", "peak"),
    ("turns completed", "turns"),
)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def measure(args: argparse.Namespace, burners: int, out: Path) -> dict[str, Any]:
    """One run of the scenario beside `burners` burners; its self-check figures."""
    name = "quiet" if not burners else f"burners{burners}"
    bundle = out / name
    overrides = [
        f"--{flag.replace('_', '-')}={value}"
        for flag in ("users", "duration", "spawn_rate", "workers")
        if (value := getattr(args, flag)) is not None
    ]
    cores = sorted(os.sched_getaffinity(0))
    with LocalServer(SERVER_FLAGS) as server:
        spinning = [
            subprocess.Popen([sys.executable, "-c", BURNER % cores[i % len(cores)]], stdin=subprocess.DEVNULL)
            for i in range(burners)
        ]
        try:
            time.sleep(1.0 if burners else 0.0)  # the burners hold their cores before the first session
            cmd = [sys.executable, "-m", "rtbench.cli", "run", str(args.scenario), "--target", server.ws_url]
            cmd += ["--target-pid", str(server.pid), "--out", str(bundle), *overrides]
            with open(out / f"{name}.log", "w") as log:
                run = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                deadline = time.monotonic() + args.timeout
                while run.poll() is None and not (bundle / "summary.json").exists():
                    if time.monotonic() > deadline:
                        run.kill()
                        break
                    time.sleep(0.2)
                _stop(spinning)
                code = run.wait(timeout=args.timeout)
        finally:
            _stop(spinning)
    summary = json.loads((bundle / "summary.json").read_text())
    check, ttft = summary["self_check"], summary["metrics"].get("ttft") or {}
    share = check.get("untrusted_turn_share")
    return {
        **check,
        "case": "quiet" if not burners else f"{burners} burners",
        "exit": code,
        "untrusted": f"{len(check['untrusted_seconds'])} of {len(_steady_seconds(bundle))}",
        "share": "-" if share is None else f"{share * 100:.1f}%",
        "ttft_p50": ttft.get("p50"),
        "ttft_p99": ttft.get("p99"),
        "peak": summary["sessions"]["peak"],
        "turns": summary["delivery"]["turns_completed"],
    }


def _steady_seconds(bundle: Path) -> list[str]:
    lines = (bundle / "timeseries.csv").read_text().splitlines()
    return [line for line in lines[1:] if ",steady," in line]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "capacity-10k.toml")
    parser.add_argument("--burners", type=int, default=2, help="CPU burners beside the second run")
    parser.add_argument("--users", type=int, help="override the scenario's users")
    parser.add_argument("--duration", help="override the steady-state length, e.g. 60s")
    parser.add_argument("--spawn-rate", dest="spawn_rate", type=float, help="override users started per second")
    parser.add_argument("--workers", help="override the load processes (a number or auto)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed for one run")
    parser.add_argument("--out", type=Path, help="keep the bundles here (default: a temporary directory)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rtbench-starved-"))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for burners in (0, args.burners):
        print(f"# {args.scenario.name}: {'quiet' if not burners else f'{burners} burners'} ...", file=sys.stderr)
        results.append(measure(args, burners, out))
        (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"self-check of {args.scenario.name}, quiet and beside {args.burners} CPU burners; bundles in {out}")
    width = max(len(label) for label, _ in ROWS)
    print(f"{'':{width}} | " + " | ".join(f"{r['case']:>14}" for r in results))
    for label, key in ROWS:
        print(f"{label:{width}} | " + " | ".join(f"{_cell(r.get(key)):>14}" for r in results))
    for r in results:
        print(f"{r['case']}: {r['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
