"""An independent minimal streaming client: multi-turn chat conversations against an
OpenAI-compatible /v1/chat/completions, timed with perf_counter, figures printed as JSON.

Run: python benchmarks/minimal_client.py --url http://127.0.0.1:8080/v1/chat/completions

Standard library only (http.client and threads); it shares no code with rtbench, so that its
figures are a cross-check of rtbench's, not a copy. `--users` threads each hold one conversation at
a time, closed loop (the next turn is sent as soon as the last one ended). A conversation has
`--turns` turns; each request carries the whole `messages` list: the persona's system prompt, the
earlier user turns and, as the assistant turns, the exact text streamed back for them. A persona is
drawn by weight at a conversation's start and switched, with `--switch-probability`, before each
later turn. A fresh connection is opened for every request, outside the timed span (llama.cpp's
server closes the connection after each streamed response although it advertises keep-alive).

Per turn:
- TTFT: from just before the request is written to the first chunk whose delta carries content;
- ITL: the gap between consecutive content chunks, one token per content chunk;
- TPOT: (e2e - TTFT) / (tokens - 1), e2e ending at `data: [DONE]`;
- tokens per response: the usage block's completion_tokens (`stream_options.include_usage`),
  otherwise one per content chunk;
- cached prompt tokens: llama.cpp's `timings.cache_n` or OpenAI's
  `usage.prompt_tokens_details.cached_tokens`, when the server reports one.

The run ends after `--conversations` conversations per user or `--duration` seconds, whichever
comes first (a turn under way then is finished and counted).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChunkEvent", "TurnRecord", "parse_sse_line", "percentile", "summarize"]

DEFAULT_PROMPTS = (
    "What is a WebSocket, in one paragraph?",
    "Explain tail latency to a new engineer.",
    "Suggest a name for a cat that likes jazz.",
    "Summarise the plot of a film you like in three sentences.",
)
DEFAULT_SYSTEMS = (
    "support=You are a terse support agent. Answer in one or two short sentences.",
    "tutor=You are a patient tutor who explains things step by step with a small example.",
)


@dataclass(frozen=True)
class ChunkEvent:
    """What one SSE line of a streamed chat completion says."""

    content: str = ""
    done: bool = False
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    error: str | None = None


def parse_sse_line(line: bytes) -> ChunkEvent | None:
    """The event of one SSE line, or None for a line that carries none (blank, comment, other field).

    `data: [DONE]` ends the stream. A JSON chunk gives its `choices[0].delta.content`, its `usage`
    (completion, prompt and cached tokens) and llama.cpp's `timings.cache_n`; an `error` object, or
    a payload that is not JSON, is an error event."""
    text = line.decode("utf-8").rstrip("\r\n")
    if not text.startswith("data:"):
        return None
    payload = text[5:].strip()
    if payload == "[DONE]":
        return ChunkEvent(done=True)
    try:
        chunk = json.loads(payload)
    except ValueError:
        return ChunkEvent(error=f"not JSON: {payload[:80]!r}")
    if not isinstance(chunk, dict):
        return ChunkEvent(error=f"not an object: {payload[:80]!r}")
    if "error" in chunk:
        return ChunkEvent(error=json.dumps(chunk["error"])[:200])
    content = ""
    choices = chunk.get("choices") or []
    if choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta") or {}
        content = delta.get("content") or ""
    usage = chunk.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    timings = chunk.get("timings") or {}
    cached = details.get("cached_tokens")
    if cached is None:
        cached = timings.get("cache_n")
    return ChunkEvent(
        content=content,
        completion_tokens=usage.get("completion_tokens"),
        prompt_tokens=usage.get("prompt_tokens"),
        cached_tokens=cached,
    )


@dataclass
class TurnRecord:
    """One completed (or failed) turn's timings, in seconds, and counts."""

    index: int
    after_switch: bool
    ttft: float | None = None
    e2e: float | None = None
    gaps: list[float] = field(default_factory=list)
    content_chunks: int = 0
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    error: str | None = None

    @property
    def tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else self.content_chunks

    @property
    def tpot(self) -> float | None:
        if self.ttft is None or self.e2e is None or self.tokens < 2:
            return None
        return (self.e2e - self.ttft) / (self.tokens - 1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-th percentile (0 < q <= 100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _ms(values: Iterable[float | None]) -> dict[str, float | int | None]:
    present = [v * 1000.0 for v in values if v is not None]
    mean = sum(present) / len(present) if present else None
    return {
        "count": len(present),
        "mean": mean,
        "p50": percentile(present, 50),
        "p95": percentile(present, 95),
        "p99": percentile(present, 99),
    }


def _mean(values: Iterable[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(turns: Sequence[TurnRecord]) -> dict[str, Any]:
    """The JSON figures of a run: overall, then by turn index ("1", "2", ...)."""
    done = [t for t in turns if t.error is None]
    by_turn: dict[str, Any] = {}
    for index in sorted({t.index for t in done}):
        these = [t for t in done if t.index == index]
        by_turn[str(index)] = {
            "ttft_ms": _ms(t.ttft for t in these),
            "tpot_ms": _ms(t.tpot for t in these),
            "e2e_ms": _ms(t.e2e for t in these),
            "prompt_tokens_mean": _mean(t.prompt_tokens for t in these),
            "cached_tokens_mean": _mean(t.cached_tokens for t in these),
        }
    return {
        "turns_completed": len(done),
        "turns_failed": len(turns) - len(done),
        "errors": sorted({t.error for t in turns if t.error is not None})[:5],
        "ttft_ms": _ms(t.ttft for t in done),
        "itl_ms": _ms(gap for t in done for gap in t.gaps),
        "tpot_ms": _ms(t.tpot for t in done),
        "e2e_ms": _ms(t.e2e for t in done),
        "tokens_per_response_mean": _mean(t.tokens for t in done),
        "persona_switch_ttft_ms": _ms(t.ttft for t in done if t.after_switch),
        "ttft_same_persona_ms": _ms(t.ttft for t in done if not t.after_switch and t.index > 1),
        "by_turn": by_turn,
    }


class Client:
    """The run's settings and the turns its users record."""

    def __init__(self, args: argparse.Namespace) -> None:
        url = urllib.parse.urlsplit(args.url)
        if url.scheme != "http" or not url.hostname:
            raise SystemExit(f"--url: expected http://HOST:PORT/PATH, got {args.url!r}")
        self.host, self.port, self.path = url.hostname, url.port or 80, url.path or "/"
        self.args = args
        self.personas = [_persona(text) for text in args.system]
        self.prompts = list(args.prompt) or list(DEFAULT_PROMPTS)
        self.extra: dict[str, Any] = json.loads(args.extra) if args.extra else {}
        self.turns: list[TurnRecord] = []
        self.lock = threading.Lock()
        self.deadline = time.perf_counter() + args.duration

    def body(self, messages: list[dict[str, str]], session: str) -> bytes:
        request: dict[str, Any] = {
            "model": self.args.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.args.max_tokens,
            "temperature": self.args.temperature,
            "user": session,
        }
        request.update(self.extra)
        return json.dumps(request).encode()

    def turn(self, messages: list[dict[str, str]], session: str, record: TurnRecord) -> str:
        """Send one turn, fill `record`, and return the text streamed back."""
        body = self.body(messages, session)
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
        parts: list[str] = []
        try:
            connection.connect()
            start = time.perf_counter()
            connection.request("POST", self.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            if response.status != 200:
                record.error = f"HTTP {response.status}: {response.read(200)!r}"
                return ""
            last: float | None = None
            while True:
                line = response.readline()
                if not line:
                    record.error = "stream ended before [DONE]"
                    return ""
                event = parse_sse_line(line)
                if event is None:
                    continue
                now = time.perf_counter()
                if event.error is not None:
                    record.error = event.error
                    return ""
                if event.done:
                    record.e2e = now - start
                    break
                if event.content:
                    if last is None:
                        record.ttft = now - start
                    else:
                        record.gaps.append(now - last)
                    last = now
                    record.content_chunks += 1
                    parts.append(event.content)
                if event.completion_tokens is not None:
                    record.completion_tokens = event.completion_tokens
                if event.prompt_tokens is not None:
                    record.prompt_tokens = event.prompt_tokens
                if event.cached_tokens is not None:
                    record.cached_tokens = event.cached_tokens
            if record.ttft is None:
                record.error = "no content"
        except (OSError, http.client.HTTPException) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        return "".join(parts)

    def user(self, number: int) -> None:
        """One user's conversations, one after another, until the count or the deadline."""
        rng = random.Random(self.args.seed * 1000 + number)
        for conversation in range(self.args.conversations):
            if time.perf_counter() >= self.deadline:
                return
            session = f"minimal-{number}-{conversation}"
            persona = _pick(self.personas, None, rng)
            history: list[dict[str, str]] = []
            for index in range(1, self.args.turns + 1):
                switched = False
                if index > 1 and len(self.personas) > 1 and rng.random() < self.args.switch_probability:
                    persona, switched = _pick(self.personas, persona, rng), True
                user_text = rng.choice(self.prompts)
                system = [{"role": "system", "content": persona[1]}] if persona[1] else []
                messages = system + history + [{"role": "user", "content": user_text}]
                record = TurnRecord(index=index, after_switch=switched)
                answer = self.turn(messages, session, record)
                with self.lock:
                    self.turns.append(record)
                if record.error is not None:
                    break  # the conversation is lost with its turn; start a new one
                history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": answer}]
                if time.perf_counter() >= self.deadline:
                    return


def _persona(text: str) -> tuple[str, str, float]:
    """(name, system prompt, weight) from "NAME=SYSTEM PROMPT" or "NAME:WEIGHT=SYSTEM PROMPT"."""
    name, sep, system = text.partition("=")
    if not sep:
        raise SystemExit(f"--system: expected NAME=PROMPT, got {text!r}")
    name, _, weight = name.partition(":")
    return name, system, float(weight or 1)


def _pick(personas: list[tuple[str, str, float]], current: tuple[str, str, float] | None, rng: random.Random) -> Any:
    others = [p for p in personas if p is not current] or personas
    return rng.choices(others, [p[2] for p in others])[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the chat completions URL, http://HOST:PORT/v1/chat/completions")
    parser.add_argument("--model", default="smollm2", help="the request's model field")
    parser.add_argument("--users", type=int, default=4, help="concurrent conversations (threads)")
    parser.add_argument("--turns", type=int, default=5, help="turns per conversation")
    parser.add_argument("--conversations", type=int, default=1_000_000, help="conversations per user at most")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds at most (a turn under way finishes)")
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens of each request")
    parser.add_argument("--temperature", type=float, default=0.0, help="temperature of each request")
    parser.add_argument(
        "--system",
        action="append",
        default=None,
        help="a persona, NAME[:WEIGHT]=SYSTEM PROMPT (repeat; two by default)",
    )
    parser.add_argument("--switch-probability", type=float, default=0.2, help="persona switch chance per later turn")
    parser.add_argument("--prompt", action="append", default=[], help="a user text (repeat; four by default)")
    parser.add_argument("--extra", help="JSON object merged into every body, e.g. '{\"cache_prompt\": false}'")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout per request, seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the persona and prompt draws")
    args = parser.parse_args(argv)
    if args.system is None:
        args.system = list(DEFAULT_SYSTEMS)
    client = Client(args)
    started = time.perf_counter()
    threads = [threading.Thread(target=client.user, args=(n,), daemon=True) for n in range(args.users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures = summarize(client.turns)
    figures["wall_s"] = time.perf_counter() - started
    figures["users"] = args.users
    json.dump(figures, sys.stdout, indent=2)
    print()
    return 0 if figures["turns_completed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
