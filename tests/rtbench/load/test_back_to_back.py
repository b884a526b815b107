"""Back-to-back turns (think time 0, the closed loop of LLM benchmarks) on every transport, against
the real reference server: no turn fails because the previous response had not ended yet, or
because the server closed the keep-alive connection after it (as llama.cpp's server does).
"""

from __future__ import annotations

import socketserver
import threading
import time

import pytest
from support.ports import worker_port
from support.runs import run_scenario, scenario_text

from rtbench.local_server import LocalServer

FLAGS = ("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "10")


def no_failed_turn(summary: dict) -> dict:
    d = summary["delivery"]
    assert sum(d["failed"].values()) == 0, d
    assert d["turns_sent"] == d["turns_completed"] + d["turns_cancelled"], d
    assert d["turns_completed"] >= 100, d  # ~80 ms a turn, 5 users, 3 s of steady state
    return d


@pytest.mark.parametrize("close_after_stream", [False, True], ids=["keep-alive", "closed-after-each-response"])
def test_openai_chat_over_http_with_no_think_time(tmp_path, close_after_stream: bool) -> None:
    flags = (*FLAGS, "--close-after-stream") if close_after_stream else FLAGS
    with LocalServer(flags) as server:
        url = f"{server.base_url}/v1/chat/completions"
        body = scenario_text(url, 'protocol = "openai-chat"', users=5, duration="3s", think_time="0s")
        result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    d = no_failed_turn(summary)
    if close_after_stream:  # every turn went on a new connection, and none was counted as failed
        assert d["connects"] >= d["turns_completed"], d
        assert d["connect_failed"] == 0, d


def test_websocket_with_no_think_time(tmp_path) -> None:
    with LocalServer(FLAGS) as server:
        body = scenario_text(server.ws_url, users=5, duration="3s", think_time="0s")
        result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    no_failed_turn(summary)


class _LateEndServer(socketserver.ThreadingTCPServer):
    """OpenAI-style SSE whose response ends (the terminating chunk) `end_delay_s` after
    `data: [DONE]`; with `close_after_s`, the server then closes the keep-alive connection that
    long after the end, as llama.cpp's server does, without saying `Connection: close`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, end_delay_s: float, close_after_s: float | None, content: bool = True) -> None:
        self.end_delay_s, self.close_after_s, self.content = end_delay_s, close_after_s, content
        self.requests = 0
        super().__init__(("127.0.0.1", port), _LateEndHandler)


class _LateEndHandler(socketserver.StreamRequestHandler):
    server: _LateEndServer

    def handle(self) -> None:
        while True:
            head = [self.rfile.readline()]
            while head[-1] not in (b"\r\n", b""):
                head.append(self.rfile.readline())
            if head[-1] == b"":
                return
            length = next(int(line.split(b":")[1]) for line in head if line.lower().startswith(b"content-length"))
            self.rfile.read(length)
            self.server.requests += 1
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            content = '{"choices":[{"index":0,"delta":{"content":"hi there"},"finish_reason":null}]}'
            for data in (
                *([content] if self.server.content else []),
                '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
                "[DONE]",
            ):
                event = f"data: {data}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            time.sleep(self.server.end_delay_s)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            if self.server.close_after_s is not None:
                time.sleep(self.server.close_after_s)
                return


@pytest.mark.parametrize(
    ("end_delay_s", "close_after_s"),
    [(0.05, None), (0.0, 0.02)],
    ids=["response-ends-50ms-after-done", "closed-20ms-after-the-response"],
)
def test_a_turn_waits_for_the_previous_response_and_resends_what_the_server_never_saw(
    tmp_path, end_delay_s: float, close_after_s: float | None
) -> None:
    """Deterministic versions of the two races: the next turn (think time 0) starts at [DONE], 50 ms
    before the response has ended; or it is sent on a keep-alive connection the server closes
    20 ms after each response without reading it."""
    server = _LateEndServer(worker_port(), end_delay_s, close_after_s)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
        body = scenario_text(url, 'protocol = "openai-chat"', users=2, duration="2s", think_time="0s")
        result, summary = run_scenario(tmp_path, body)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    d = summary["delivery"]
    assert sum(d["failed"].values()) == 0, d
    assert d["turns_completed"] >= 20, d
    assert d["unaccounted"] == 0, d
    assert server.requests == d["turns_sent"], (server.requests, d)  # each answered once
    if close_after_s is not None:  # the requests the server closed on were sent again, not failed
        assert d["turns_resent"] >= 1, d


def test_an_empty_response_is_a_failure_of_its_own(tmp_path) -> None:
    """[DONE] with no content (llama.cpp's /v1/completions did it 18 times in 42): failed as
    `empty`, not a completed turn without a TTFT."""
    server = _LateEndServer(worker_port(), 0.0, None, content=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
        body = scenario_text(url, 'protocol = "openai-chat"', users=2, duration="2s", think_time="0.1s")
        result, summary = run_scenario(tmp_path, body)
    finally:
        server.shutdown()
        server.server_close()
    assert summary, result.stdout[-2000:] + result.stderr  # (a run with no completed turn may exit 3)
    d = summary["delivery"]
    assert d["turns_completed"] == 0, d
    assert d["failed"]["empty"] == d["turns_sent"] - d["turns_cancelled"] >= 10, d
    assert d["unaccounted"] == 0 and summary["metrics_by_phase"]["steady"].get("e2e", {}).get("count", 0) == 0
    assert "empty" in result.stderr  # the failed turns are shown by reason
