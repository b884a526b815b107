"""Run aimock (CopilotKit's OpenAI mock, pinned in third_party/aimock) on loopback, for tests.

    from support.aimock import aimock_factory, chat_fixture, realtime_fixture   # fixture + builders

    def test_x(aimock_factory):
        mock = aimock_factory([chat_fixture(tokens=20, ttft_ms=100, tps=50)])
        mock.url("/v1/chat/completions")          # http://127.0.0.1:PORT/v1/chat/completions

    with running_aimock([...]) as mock: ...       # the same outside pytest

The fixtures are written to a JSON file and the server starts as
`node_modules/.bin/llmock -h 127.0.0.1 -p 0 -f FILE`: it picks a free port itself and logs it
("listening on http://127.0.0.1:PORT"), so there is no race for the port. It is ready once that
line is out and `GET /health` answers 200 (within 15 s); it is stopped by its PID (SIGTERM, then
SIGKILL after 10 s). `make test` installs aimock (`npm ci` in third_party/aimock); without it the
start fails with a message that says so.

What the fixtures mean (read from aimock 1.43's source, dist/sse-writer.js and ws-realtime.js):
- Chat SSE: `streamingProfile.ttft` is the delay before the FIRST chunk, which is the role-only
  chunk (`delta: {role, content: ""}`); every later chunk (each content chunk of `chunkSize`
  characters, then the `finish_reason` chunk) waits `1000 / tps` ms. Each delay is a separate
  `setTimeout` after the previous write, multiplied by `1 + U(-1, 1) * jitter` (uniform, a
  fraction, drawn per chunk). The usage chunk (only with `stream_options.include_usage`) and
  `[DONE]` follow the finish chunk at once. So the first CONTENT arrives at `ttft + 1000/tps`.
- Realtime (`/v1/realtime`, GA event names): `streamingProfile` is ignored for text; every
  `response.output_text.delta` waits `latency` ms, the first one included, unless the fixture has
  `recordedTimings` (`ttftMs` before the first delta, then `interChunkDelaysMs[i]`, the mean of
  that list past its end). `response.done` reports usage as all zeros.
- `/v1/completions` (legacy) is not served: 404 `{"error":{"message":"Not found",...}}`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from support.server import REPO_ROOT, ServerHandle

__all__ = [
    "AIMOCK_DIR",
    "LLMOCK",
    "aimock_factory",
    "chat_fixture",
    "installed_version",
    "llmock_command",
    "realtime_fixture",
    "running_aimock",
    "token_text",
]

AIMOCK_DIR = REPO_ROOT / "third_party" / "aimock"
LLMOCK = AIMOCK_DIR / "node_modules" / ".bin" / "llmock"
START_TIMEOUT_S = 15.0
_LISTENING = re.compile(rb"listening on http://[^:\s]+:(\d+)")


def installed_version() -> str:
    """The installed aimock's version, from its package.json."""
    package = AIMOCK_DIR / "node_modules" / "@copilotkit" / "aimock" / "package.json"
    return str(json.loads(package.read_text())["version"])


def llmock_command() -> list[str]:
    """The command that runs our pinned aimock's `llmock` CLI; fails (never skips) if it is missing."""
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: aimock needs Node.js >= 20.15 (Debian package `nodejs`)")
    if not LLMOCK.exists():
        pytest.fail(
            f"aimock is not installed ({LLMOCK} is missing): run `make test`, which runs `npm ci` in third_party/aimock"
        )
    return [str(LLMOCK)]


def token_text(tokens: int, width: int = 5) -> str:
    """`tokens` words of exactly `width` characters ("t000 t001 ..."): with `chunkSize = width`
    aimock streams one word per chunk, so chunks and tokens are the same count."""
    digits = width - 2
    if tokens > 10**digits:
        raise ValueError(f"{tokens} tokens do not fit in words of {width} characters")
    return "".join(f"t{i:0{digits}d} " for i in range(tokens))


def chat_fixture(
    *, tokens: int, ttft_ms: float, tps: float, jitter: float = 0.0, match: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A chat-completions fixture: `tokens` one-token chunks on aimock's streaming profile, with a
    usage block that reports `tokens` completion tokens (aimock would estimate chars / 4)."""
    return {
        "match": dict(match or {"endpoint": "chat"}),
        "response": {
            "content": token_text(tokens),
            "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1},
        },
        "chunkSize": 5,
        "streamingProfile": {"ttft": ttft_ms, "tps": tps, "jitter": jitter},
    }


def realtime_fixture(
    *,
    tokens: int,
    latency_ms: float | None = None,
    ttft_ms: float | None = None,
    itl_ms: float | None = None,
    match: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Realtime fixture: `tokens` one-token `response.output_text.delta` events, each after
    `latency_ms`; or, with `ttft_ms` and `itl_ms`, the first after `ttft_ms` and the rest `itl_ms`
    apart (aimock's `recordedTimings`)."""
    fixture: dict[str, Any] = {
        "match": dict(match or {"endpoint": "realtime"}),
        "response": {"content": token_text(tokens)},
        "chunkSize": 5,
    }
    if latency_ms is not None:
        fixture["latency"] = latency_ms
    if ttft_ms is not None or itl_ms is not None:
        if ttft_ms is None or itl_ms is None:
            raise ValueError("give both ttft_ms and itl_ms, or neither")
        fixture["recordedTimings"] = {"ttftMs": ttft_ms, "interChunkDelaysMs": [itl_ms]}
    return fixture


def _log(log_file: IO[bytes]) -> bytes:
    fd = log_file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0)


def _wait_ready(proc: subprocess.Popen[bytes], log_file: IO[bytes], host: str) -> int:
    """The port aimock listens on, once it logged it and `/health` answers 200."""
    deadline = time.monotonic() + START_TIMEOUT_S
    port: int | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"aimock exited with {proc.returncode}: {_log(log_file).decode(errors='replace').strip()}"
            )
        found = _LISTENING.search(_log(log_file))
        port = int(found.group(1)) if found else None
        if port is not None:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=1.0) as response:
                    if response.status == 200:
                        return port
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.05)
    raise RuntimeError(
        f"aimock not ready within {START_TIMEOUT_S:g} s: {_log(log_file).decode(errors='replace').strip()}"
    )


@contextmanager
def running_aimock(fixtures: Sequence[Mapping[str, Any]], *flags: str) -> Iterator[ServerHandle]:
    """aimock serving `fixtures` on a free 127.0.0.1 port for the duration of the `with` block.
    The handle is the reference server's kind: `url(path)`, `pid`, `stderr()` (aimock's log)."""
    command = llmock_command()
    host = "127.0.0.1"
    with tempfile.TemporaryDirectory(prefix="aimock-") as tmp:
        fixtures_path = Path(tmp) / "fixtures.json"
        fixtures_path.write_text(json.dumps({"fixtures": list(fixtures)}))
        log_file = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [*command, "-h", host, "-p", "0", "-f", str(fixtures_path), *flags],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        handle = ServerHandle(host, 0, proc, log_file)
        try:
            handle.port = _wait_ready(proc, log_file, host)
            yield handle
        finally:
            handle.stop()
            handle._stderr_at_exit = handle.stderr()
            log_file.close()


@pytest.fixture
def aimock_factory() -> Iterator[Callable[..., ServerHandle]]:
    """`factory(fixtures, *flags)` starts an aimock; all are stopped after the test."""
    with ExitStack() as stack:

        def start(fixtures: Sequence[Mapping[str, Any]], *flags: str) -> ServerHandle:
            return stack.enter_context(running_aimock(fixtures, *flags))

        yield start
