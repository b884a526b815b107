"""Prefill ground truth: rtbench's TTFT by turn against the reference server's prefill arithmetic.

The server (`--ttft-ms 20 --prefill-ms-per-1k 1000`, PROTOCOL.md) adds 1 ms per uncached input
token to each turn's TTFT; a token is a whitespace-separated word. A real `rtbench run` (2 native
users, 5-turn conversations, a 200-word system prompt, 20-word prompts, 10-token answers) is made
for each case, and the p50 of each turn index (summary.json `metrics_by_turn`) is printed beside
the arithmetic. Turn k holds S + (k - 1)(U + A) + U tokens:

- cache off: every turn pays its whole context;
- cache on: a turn pays its new prompt, and turn 1 of a session's later conversations nothing
  (the cache outlives a conversation);
- switch: cache on, and a persona switch (a new system prompt) before every later turn, which
  pays the whole context again.

    .venv/bin/python benchmarks/prefill_truth.py [--duration 6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rtbench.local_server import LocalServer

TTFT_MS, PREFILL_MS_PER_1K = 20.0, 1000.0
S, U, A, TURNS = 200, 20, 10, 5
CASES = {"off": ("off", 0.0), "on": ("on", 0.0), "switch": ("on", 1.0)}


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def expected(case: str) -> list[float]:
    out = []
    for k in range(1, TURNS + 1):
        context = S + (k - 1) * (U + A) + U
        if case == "off" or (case == "switch" and k > 1):
            uncached = context
        else:
            uncached = U if k > 1 else 0
        out.append(TTFT_MS + PREFILL_MS_PER_1K * uncached / 1000)
    return out


def scenario(url: str, switch: float, duration: float) -> str:
    return f"""[target]
url = "{url}"
protocol = "native"
[load]
users = 2
spawn_rate = 2
duration = "{duration:g}s"
think_time = "0.05s"
[prompts]
texts = ["{words("u", U)}"]
max_tokens = {A}
[conversation]
turns = {TURNS}
[personas]
switch_probability = {switch}
[personas.a]
system = "{words("a", S)}"
[personas.b]
system = "{words("b", S)}"
"""


def measure(case: str, duration: float, out: Path) -> list[tuple[float, int]]:
    cache, switch = CASES[case]
    flags = ("--ttft-ms", f"{TTFT_MS:g}", "--itl-ms", "1", "--tokens", str(A))
    with LocalServer((*flags, "--prefill-ms-per-1k", f"{PREFILL_MS_PER_1K:g}", "--prefix-cache", cache)) as server:
        toml = out / f"{case}.toml"
        toml.write_text(scenario(server.ws_url, switch, duration))
        command = [sys.executable, "-m", "rtbench.cli", "run", str(toml), "--out", str(out / case), "--overwrite"]
        subprocess.run(command, capture_output=True, timeout=duration + 120, check=False)
    by_turn = json.loads((out / case / "summary.json").read_text())["metrics_by_turn"]
    return [(by_turn[str(k)]["ttft"]["p50"], by_turn[str(k)]["ttft"]["count"]) for k in range(1, TURNS + 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0, help="steady state of each run, s")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="rtbench-prefill-"))
    print(f"TTFT p50 by turn (ms): measured (n) against the arithmetic; bundles in {out}")
    print("case    " + "  ".join(f"{'turn ' + str(k):>22}" for k in range(1, TURNS + 1)) + "  max |error|")
    for case in CASES:
        measured = measure(case, args.duration, out)
        cells, worst = [], 0.0
        for (p50, count), truth in zip(measured, expected(case), strict=True):
            cells.append(f"{p50:8.1f} ({count:2d}) vs {truth:6.1f}")
            worst = max(worst, abs(p50 - truth))
        print(f"{case:<7} " + "  ".join(cells) + f"  {worst:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
