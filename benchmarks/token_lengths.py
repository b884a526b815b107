"""Token lengths: the input sizes rtbench was asked for against those the server counted.

A real `rtbench run` (openai-chat, synthetic prompts of `--input-tokens`, default
"lognormal:200:800") against the reference server, through a recording relay (tests/support/relay.py)
that keeps every request and the usage block the server answered it with. The server counts one
token per whitespace-separated word (reference_server/PROTOCOL.md), the client's own rule without
a tokenizer. Printed: the asked-for p50 and p95 beside the server-counted ones, the share of turns
whose client count (the words of the prompt sent) equals the server's, and, with `--tokenizer`,
the prompts' sizes by that tokenizer (each should be exactly its draw).

    .venv/bin/python benchmarks/token_lengths.py [--input-tokens lognormal:200:800] [--duration 20]
        [--users 4] [--tokenizer .llama/tokenizer/tokenizer.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.relay import Exchange, Relay  # noqa: E402

from rtbench.local_server import LocalServer  # noqa: E402
from rtbench.prompts.distributions import parse_distribution  # noqa: E402
from rtbench.prompts.tokens import load_tokenizer  # noqa: E402

SERVER_FLAGS = ("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")


def scenario(url: str, args: argparse.Namespace) -> str:
    tokenizer = f'tokenizer = "{Path(args.tokenizer).resolve()}"' if args.tokenizer else ""
    return f"""[scenario]
seed = {args.seed}
[target]
url = "{url}"
protocol = "openai-chat"
[load]
users = {args.users}
spawn_rate = {args.users}
duration = "{args.duration:g}s"
think_time = "0s"
[prompts]
input_tokens = "{args.input_tokens}"
{tokenizer}
"""


def quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> list[Exchange]:
    with tempfile.TemporaryDirectory() as folder, LocalServer(SERVER_FLAGS) as server, Relay(server.port) as relay:
        path = Path(folder) / "token-lengths.toml"
        path.write_text(scenario(relay.url("/v1/chat/completions"), args))
        command = [sys.executable, "-m", "rtbench.cli", "run", str(path), "--out", str(Path(folder) / "bundle")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 180, check=False)
        if done.returncode not in (0, 1):
            sys.exit(f"rtbench run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return relay.exchanges()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-tokens", default="lognormal:200:800", help="the distribution asked for")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of steady load")
    parser.add_argument("--users", type=int, default=4, help="concurrent users")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed")
    parser.add_argument("--tokenizer", help="a tokenizer.json: prompts are sized by it")
    args = parser.parse_args()
    asked = parse_distribution(args.input_tokens)
    exchanges = [exchange for exchange in run(args) if exchange.usage()]
    if not exchanges:
        sys.exit("no turn was answered with a usage block")
    server = [exchange.usage()["prompt_tokens"] for exchange in exchanges]
    client = [sum(len(m["content"].split()) for m in exchange.body["messages"]) for exchange in exchanges]
    agree = sum(c == s for c, s in zip(client, server, strict=True)) / len(server)
    print(f"{len(server)} turns, input_tokens = {asked.text!r}, server: reference server (one token a word)")
    print(f"{'':28} {'p50':>8} {'p95':>8}")
    print(f"{'asked for':28} {asked.p50:8.0f} {asked.p95:8.0f}")
    print(f"{'server-counted (usage)':28} {quantile(server, 0.5):8d} {quantile(server, 0.95):8d}")
    if args.tokenizer:
        counter = load_tokenizer(str(Path(args.tokenizer).resolve()))
        sized = [counter.count(exchange.body["messages"][-1]["content"]) for exchange in exchanges]
        print(f"{'by the tokenizer':28} {quantile(sized, 0.5):8d} {quantile(sized, 0.95):8d}")
    print(f"turns whose words sent equal the server's count: {agree:.1%}")


if __name__ == "__main__":
    main()
