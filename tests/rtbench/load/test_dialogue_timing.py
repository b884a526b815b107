"""Prefill ground truth: against the reference server's prefill model, each turn of a conversation
is measured as the arithmetic says, with the prefix cache on and off, and after a persona switch.

The server (`--prefill-ms-per-1k P`, PROTOCOL.md) adds P x uncached input tokens / 1000 to each
turn's TTFT. One token is one whitespace-separated word. A turn's context is the system prompt (S
words), the earlier turns (a U-word prompt and an A-token answer each) and the new prompt: turn k
holds S + (k - 1)(U + A) + U tokens. With the cache, a turn pays only its new prompt (the cache
holds the previous context and its answer), and the first turn of a session's later conversations
(one prompt text, the same system prompt) nothing: the cache outlives a conversation, as a real
server's does. Without it, and after a change of system prompt, every turn pays its whole context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.runs import run_scenario, scenario_text
from support.server import ServerHandle

pytestmark = pytest.mark.quiet

TTFT_MS, PREFILL_MS_PER_1K = 20.0, 1000.0
S, U, A, TURNS = 200, 20, 10, 5
TOLERANCE_MS = 3.0


def _words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def _expected(cached: bool, switched: bool = False) -> dict[str, float]:
    """TTFT p50 by turn. Cached, turn 1 of every conversation but a session's first (in the ramp,
    not measured) finds its whole context in the cache; a turn after a switch pays it all."""
    out = {}
    for k in range(1, TURNS + 1):
        context = S + (k - 1) * (U + A) + U
        if not cached or (switched and k > 1):
            uncached = context
        else:
            uncached = U if k > 1 else 0
        out[str(k)] = TTFT_MS + PREFILL_MS_PER_1K * uncached / 1000
    return out


def _by_turn_p50(tmp_path: Path, server: ServerHandle, switch: float) -> dict[str, float]:
    personas = f'[personas.a]\nsystem = "{_words("a", S)}"\n[personas.b]\nsystem = "{_words("b", S)}"\n'
    tables = f"[conversation]\nturns = {TURNS}\n[personas]\nswitch_probability = {switch}\n{personas}"
    body = scenario_text(server.ws_url, 'protocol = "native"', users=2, duration="6s", think_time="0.05s")
    body = body.replace('texts = ["hello there"]', f'texts = ["{_words("u", U)}"]\nmax_tokens = {A}')
    result, summary = run_scenario(tmp_path, body + tables)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    by_turn = summary["metrics_by_turn"]
    assert set(by_turn) == {str(k) for k in range(1, TURNS + 1)}
    assert all(by_turn[k]["ttft"]["count"] >= 2 for k in by_turn)
    return {k: by_turn[k]["ttft"]["p50"] for k in by_turn}


def _server(factory: Callable[..., ServerHandle], cache: str) -> ServerHandle:
    flags = ("--ttft-ms", str(TTFT_MS), "--itl-ms", "1", "--tokens", str(A))
    return factory(*flags, "--prefill-ms-per-1k", str(PREFILL_MS_PER_1K), "--prefix-cache", cache)


@pytest.mark.parametrize("cache", ["on", "off"])
def test_each_turn_pays_the_prefill_the_arithmetic_gives(
    tmp_path: Path, reference_server_factory: Callable[..., ServerHandle], cache: str
) -> None:
    measured = _by_turn_p50(tmp_path, _server(reference_server_factory, cache), switch=0.0)
    expected = _expected(cached=cache == "on")
    for k, value in expected.items():
        assert measured[k] == pytest.approx(value, abs=TOLERANCE_MS), f"turn {k}: {measured} vs {expected}"


def test_a_persona_switch_pays_the_whole_context_again(
    tmp_path: Path, reference_server_factory: Callable[..., ServerHandle]
) -> None:
    # a switch before every turn after the first: the cache, though on, never holds the new prefix
    measured = _by_turn_p50(tmp_path, _server(reference_server_factory, "on"), switch=1.0)
    expected = _expected(cached=True, switched=True)
    for k, value in expected.items():
        assert measured[k] == pytest.approx(value, abs=TOLERANCE_MS), f"turn {k}: {measured} vs {expected}"
