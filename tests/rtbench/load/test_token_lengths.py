"""Prompt sizes as the reference server counts them (its usage block, one token a word: PROTOCOL.md).

A recording relay sits between the real runner and the real server, so that each request is seen
with the usage the server reported for it. `input_tokens = "lognormal:200:800"` gives that
distribution; with a tokenizer every prompt is exactly the asked-for tokens by it; `max_tokens`
drawn per turn caps each answer; `prefix_tokens` is one system message all turns share, which the
server's prefix cache then holds.
"""

from __future__ import annotations

import math
from pathlib import Path

from support.relay import Exchange, Relay
from support.runs import run_scenario
from support.server import ServerHandle
from support.tokenizer_files import bpe_tokenizer

from rtbench.prompts.tokens import load_tokenizer

#: The first turns of a seeded single user, whose sizes are therefore the same in every run.
TURNS = 400
#: Stated tolerances of the sample's p50 and p95 against the asked-for 200 and 800.
P50_TOLERANCE, P95_TOLERANCE = 0.10, 0.15


def _run(server: ServerHandle, tmp_path: Path, prompts: str, users: int = 1, duration: str = "5s") -> list[Exchange]:
    with Relay(server.port) as relay:
        body = f"""
[scenario]
seed = 7
[target]
url = "{relay.url("/v1/chat/completions")}"
protocol = "openai-chat"
[load]
users = {users}
spawn_rate = {users}
duration = "{duration}"
think_time = "0s"
[prompts]
{prompts}
"""
        result, _ = run_scenario(tmp_path, body)
        exchanges = relay.exchanges()
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return exchanges


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_lognormal_input_tokens_have_the_asked_for_p50_and_p95_as_the_server_counts_them(
    reference_server_factory, tmp_path: Path
) -> None:
    server = reference_server_factory("--ttft-ms", "1", "--itl-ms", "1", "--tokens", "20")
    exchanges = _run(server, tmp_path, 'input_tokens = "lognormal:200:800"\nmax_tokens = "uniform:2:6"')
    assert len(exchanges) >= TURNS, f"only {len(exchanges)} turns"
    counted = []
    for exchange in exchanges:
        usage, (message,) = exchange.usage(), exchange.body["messages"]
        # the client's count (one token a word) and the server's agree exactly, turn by turn
        assert usage["prompt_tokens"] == len(message["content"].split()), message["content"][:80]
        assert 2 <= exchange.body["max_tokens"] <= 6 and usage["completion_tokens"] == exchange.body["max_tokens"]
        counted.append(usage["prompt_tokens"])
    first = counted[:TURNS]
    p50, p95 = _quantile(first, 0.5), _quantile(first, 0.95)
    print(f"server-counted input tokens over {TURNS} turns: p50 {p50} (asked 200), p95 {p95} (asked 800)")
    assert abs(p50 - 200) <= P50_TOLERANCE * 200 and abs(p95 - 800) <= P95_TOLERANCE * 800
    # and over every turn: the share below each asked-for quantile is within 3 standard errors
    n = len(counted)
    for bound, share in ((200, 0.5), (800, 0.95)):
        below = sum(count <= bound for count in counted) / n
        assert abs(below - share) <= 3 * math.sqrt(share * (1 - share) / n), (bound, below, n)
    # every prompt opens with its own tag: no two share a prefix a server could have cached
    tags = [exchange.body["messages"][0]["content"].split()[0] for exchange in exchanges]
    assert len(set(tags)) == len(tags)


def test_with_a_tokenizer_each_prompt_is_exactly_the_asked_for_tokens_by_it(
    reference_server_factory, tmp_path: Path
) -> None:
    tokenizer = bpe_tokenizer(tmp_path)  # a word is one to several of its tokens
    counter = load_tokenizer(str(tokenizer))
    server = reference_server_factory("--ttft-ms", "1", "--itl-ms", "1", "--tokens", "3")
    prompts = f'input_tokens = 57\nprefix_tokens = 30\ntokenizer = "{tokenizer}"'
    exchanges = _run(server, tmp_path, prompts, users=2, duration="2s")
    assert len(exchanges) >= 20
    prefixes = set()
    for exchange in exchanges:
        system, user = exchange.body["messages"]
        assert system["role"] == "system" and counter.count(system["content"]) == 30
        assert counter.count(user["content"]) == 57
        prefixes.add(system["content"])
        # the server counts words (its own rule): the usage block holds every message's words
        usage = exchange.usage()
        assert usage["prompt_tokens"] == len(system["content"].split()) + len(user["content"].split())
    assert len(prefixes) == 1
    # after each user's first turn, the server's prefix cache (keyed by the user) holds the shared prefix
    words, seen, cached = len(next(iter(prefixes)).split()), set(), []
    for exchange in exchanges:
        user = exchange.body["user"]
        if user in seen:
            cached.append(exchange.usage()["prompt_tokens_details"]["cached_tokens"])
        seen.add(user)
    assert len(seen) == 2 and cached and set(cached) == {words}
