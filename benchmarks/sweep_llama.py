"""`rtbench sweep --users 1,2,4,8` against llama.cpp's llama-server with 4 slots (`-np 4`) serving
SmolLM2-135M-Instruct. Two limits show: the throughput knee (where requests/s stops growing) and
the slots (from the 5th concurrent request on, requests wait: llama.cpp's `requests_deferred`,
read through `--target-metrics`). With spare compute they coincide at 4; on this 2-core machine
the CPU runs out first, at 2 users (1 or 2 server threads alike), while the queue starts at 8.

Run: make llama && .venv/bin/python benchmarks/sweep_llama.py   (--help for knobs)

Needs `make llama` (.llama/bin/llama-server and .llama/models/SmolLM2-135M-Instruct.gguf); installs
nothing itself. One llama-server (loopback, a free port, `--parallel 4 --metrics`, one thread: see
benchmarks/real_model.py for why) is started for the whole sweep and stopped by its PID (its own
process group), also on Ctrl-C. Each step is `rtbench run` of an openai-chat scenario written here:
closed loop, no think time, one short prompt, `max_tokens` 32 with `ignore_eos` and temperature 0
(every answer 32 tokens long), for `--duration` seconds of steady state (or `--requests` turns),
with `--target-metrics` on llama-server's /metrics (queue, running, tokens/s in every bundle).
Prints the sweep's table and its knee; the bundles, sweep.json, sweep.html and sweep.png stay in
`--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_model import LLAMA_SERVER, MODEL, MODEL_NAME, REPO, _start, _stop, free_port  # noqa: E402

SLOTS = 4
SCENARIO = """
[scenario]
name = "sweep-llama"
seed = 1
[target]
url = "{url}/v1/chat/completions"
protocol = "openai-chat"
metrics_url = "{url}/metrics"
first_token_timeout = "60s"
turn_timeout = "120s"
[adapter]
model = "{model}"
include_usage = true
extra = {{ temperature = 0, ignore_eos = true }}
[load]
users = 1
spawn_rate = 8
think_time = "0s"
[prompts]
texts = ["Write a short story about a lighthouse keeper."]
max_tokens = {max_tokens}
"""


def check_installed() -> None:
    """One line, and exit 2, when `make llama` has not been run."""
    missing = [str(p.relative_to(REPO)) for p in (LLAMA_SERVER, MODEL) if not p.exists()]
    if missing:
        print(f"error: missing {', '.join(missing)}: run `make llama` first", file=sys.stderr)
        raise SystemExit(2)


@contextlib.contextmanager
def llama_server(threads: int, ctx_per_slot: int, log_path: Path) -> Iterator[str]:
    """A fresh llama-server with `SLOTS` slots and its /metrics on a loopback port: its base URL."""
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
        str(SLOTS),
        "--ctx-size",
        str(ctx_per_slot * SLOTS),
        "--threads",
        str(threads),
        "--metrics",
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
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama-server not ready after 60 s: see {log_path}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(process)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="1,2,4,8", help="the sweep's steps (users, comma-separated)")
    parser.add_argument("--duration", default="20s", help="steady state of each step")
    parser.add_argument("--requests", type=int, help="each step a fixed number of turns instead of --duration")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens of every answer (ignore_eos)")
    parser.add_argument("--threads", type=int, default=1, help="llama-server --threads")
    parser.add_argument("--ctx-per-slot", type=int, default=1024, help="context tokens per llama-server slot")
    parser.add_argument("--out", type=Path, help="directory for the sweep (default: a temporary one, printed)")
    args = parser.parse_args(argv)
    check_installed()
    signal.signal(signal.SIGINT, _interrupt)
    out = args.out or Path(tempfile.mkdtemp(prefix="sweep-llama-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with llama_server(args.threads, args.ctx_per_slot, out / "llama-server.log") as url:
            scenario = out / "sweep-llama.toml"
            scenario.write_text(SCENARIO.format(url=url, model=MODEL_NAME, max_tokens=args.max_tokens))
            command = [sys.executable, "-m", "rtbench", "sweep", str(scenario), "--users", args.users]
            command += ["--requests", str(args.requests)] if args.requests else ["--duration", args.duration]
            command += ["--out", str(out / "sweep"), "--overwrite"]
            print(f"llama-server {url} (--parallel {SLOTS}); {' '.join(command[1:])}", file=sys.stderr, flush=True)
            process = _start(command, None, None)
            try:
                code = process.wait()
            finally:
                _stop(process)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # llama-server did not start
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = out / "sweep" / "sweep.json"
    if not result.exists():
        print(f"error: the sweep wrote no sweep.json (exit {code})", file=sys.stderr)
        return 1
    record = json.loads(result.read_text())
    queue_from = record.get("server_queue_from")
    queue = f"from {queue_from:g} users" if queue_from is not None else "at no step"
    print(f"\n{record['line']}\nserver queue (requests waiting for one of {SLOTS} slots): {queue}; out: {out}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
