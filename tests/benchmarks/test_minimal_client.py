"""benchmarks/minimal_client.py's pure parts: the SSE lines of a streamed chat completion (llama.cpp's
and OpenAI's), and the figures it computes from the turns it timed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "minimal_client.py"


@pytest.fixture(scope="module")
def client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("minimal_client", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_content_chunks_and_the_end(client: ModuleType) -> None:
    parse = client.parse_sse_line
    assert parse(b'data: {"choices":[{"index":0,"delta":{"content":" hello"}}]}\n').content == " hello"
    assert parse(b"data: [DONE]\r\n").done
    # blank lines, comments and other fields carry no event
    assert parse(b"\n") is None and parse(b": keep-alive\n") is None and parse(b"event: x\n") is None


def test_a_role_only_first_chunk_carries_no_content(client: ModuleType) -> None:
    """llama.cpp opens with {"role":"assistant","content":null}: not the first token."""
    event = client.parse_sse_line(b'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}\n')
    assert event.content == "" and not event.done and event.error is None


def test_usage_and_llama_cpp_cache_timings(client: ModuleType) -> None:
    line = (
        b'data: {"choices":[],"usage":{"completion_tokens":32,"prompt_tokens":120},'
        b'"timings":{"cache_n":96,"prompt_n":24}}\n'
    )
    event = client.parse_sse_line(line)
    assert (event.completion_tokens, event.prompt_tokens, event.cached_tokens) == (32, 120, 96)
    openai = b'data: {"choices":[],"usage":{"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":64}}}\n'
    assert client.parse_sse_line(openai).cached_tokens == 64


def test_errors(client: ModuleType) -> None:
    assert client.parse_sse_line(b"data: {not json\n").error is not None
    assert "overloaded" in client.parse_sse_line(b'data: {"error":{"message":"overloaded"}}\n').error


def test_figures_per_turn_index(client: ModuleType) -> None:
    turn = client.TurnRecord
    turns = [
        turn(index=1, after_switch=False, ttft=0.010, e2e=0.110, gaps=[0.05, 0.05], completion_tokens=3),
        turn(index=2, after_switch=True, ttft=0.030, e2e=0.130, gaps=[0.05, 0.05], completion_tokens=3),
        turn(index=2, after_switch=False, error="HTTP 503"),
    ]
    figures = client.summarize(turns)
    assert (figures["turns_completed"], figures["turns_failed"]) == (2, 1)
    assert figures["ttft_ms"]["p50"] == pytest.approx(10.0)
    assert figures["tpot_ms"]["p50"] == pytest.approx(50.0)  # (110 - 10) / (3 - 1)
    assert figures["itl_ms"]["count"] == 4
    assert figures["persona_switch_ttft_ms"]["p50"] == pytest.approx(30.0)
    assert figures["ttft_same_persona_ms"]["count"] == 0  # turn 1 is neither
    assert list(figures["by_turn"]) == ["1", "2"]
    assert figures["by_turn"]["2"]["ttft_ms"]["p50"] == pytest.approx(30.0)


def test_nearest_rank_percentile(client: ModuleType) -> None:
    assert client.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert client.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert client.percentile(list(range(1, 101)), 95) == 95
    assert client.percentile([], 50) is None
