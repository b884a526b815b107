"""Trace replay through the real runner: rows sent at their own times (x speed), each once, timed
from their planned send, conversations in order on one session with their history.

Against the reference server (fixed TTFT, and more tokens than any row asks, so that each row's
`output_tokens` decides its length), and a scripted HTTP server that notes when each request came.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.runs import run_scenario, scenario_text
from support.server import ServerHandle
from support.sse_server import LAST_CHUNK, Reply, ScriptedServer, chunk, event, head

TTFT_MS = 20
#: (ms, input tokens, output tokens, conversation): 16 rows over 1.5 s, two conversations of 3.
ROWS: list[tuple[int, int, int, str | None]] = [
    (0, 30, 8, None),
    (50, 12, 5, "a"),
    (100, 80, 6, None),
    (200, 20, 4, None),
    (300, 15, 7, "b"),
    (400, 50, 3, None),
    (500, 25, 5, "a"),
    (600, 10, 9, None),
    (700, 60, 4, None),
    (800, 18, 6, "b"),
    (900, 40, 5, None),
    (1000, 35, 4, "a"),
    (1100, 22, 8, None),
    (1200, 70, 3, None),
    (1300, 16, 5, "b"),
    (1500, 28, 6, None),
]
UNITS = sum(1 for *_, c in ROWS if c is None) + len({c for *_, c in ROWS if c is not None})
SPAN_S = ROWS[-1][0] / 1000.0


def _trace(path: Path, rows: list[tuple[int, int, int, str | None]]) -> Path:
    lines = []
    for ms, inputs, outputs, conversation in rows:
        row: dict[str, Any] = {"timestamp_ms": ms, "input_tokens": inputs, "output_tokens": outputs}
        if conversation is not None:
            row["conversation_id"] = conversation
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def _replay(tmp_path: Path, url: str, *options: str, target: str = "", users: int = 6) -> dict[str, Any]:
    body = scenario_text(url, target, users=users, duration="30s").replace('duration = "30s"\n', "")
    trace = _trace(tmp_path / "trace.jsonl", ROWS)
    result, summary = run_scenario(tmp_path, body + '[trace]\nfile = "trace.jsonl"\n', "--seed", "3", *options)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert summary["config"]["trace_file"] == str(trace)
    return summary


def _server(factory: Callable[..., ServerHandle]) -> ServerHandle:
    return factory("--ttft-ms", str(TTFT_MS), "--itl-ms", "2", "--tokens", "1000")


def _check_every_row_sent_once_from_its_plan(summary: dict[str, Any], server: ServerHandle) -> None:
    trace = summary["trace"]
    seen = (trace, summary["warnings"], summary["delivery"].get("by_process"))
    assert (trace["rows"], trace["sent"], trace["unsent"], trace["skipped"]) == (len(ROWS), len(ROWS), 0, 0), seen
    assert server.metrics()["rtref_prompts_total"] == len(ROWS)  # each row once, over every process
    counters, metrics = summary["counters"], summary["metrics"]
    assert counters["turns_completed"] == len(ROWS)
    assert counters["tokens"] == sum(outputs for _, _, outputs, _ in ROWS)  # max_tokens = output_tokens
    assert counters["conversations_started"] == UNITS
    assert metrics["send_lag"]["count"] == len(ROWS) and metrics["ttft"]["count"] == len(ROWS)
    assert metrics["ttft"]["min"] >= TTFT_MS  # timed from the planned send, never from after it
    assert summary["include_ramp"]  # every row is in the figures
    steady = summary["phases"]["steady"]
    assert steady["end"] - steady["start"] < SPAN_S + 2.5  # it ended with its last row, not at a duration


def test_a_trace_replays_every_row_once_at_its_own_times(
    tmp_path: Path, reference_server_factory: Callable[..., ServerHandle]
) -> None:
    server = _server(reference_server_factory)
    summary = _replay(tmp_path, server.ws_url)
    _check_every_row_sent_once_from_its_plan(summary, server)
    lag = summary["metrics"]["send_lag"]
    assert lag["p50"] <= 5.0 and lag["max"] <= 50.0, lag  # loose beside parallel tests; exact: quiet


@pytest.mark.quiet
def test_each_row_is_sent_within_5_ms_of_its_planned_send(
    tmp_path: Path, reference_server_factory: Callable[..., ServerHandle]
) -> None:
    server = _server(reference_server_factory)
    summary = _replay(tmp_path, server.ws_url)
    _check_every_row_sent_once_from_its_plan(summary, server)
    assert summary["metrics"]["send_lag"]["max"] <= 5.0, summary["metrics"]["send_lag"]
    assert summary["trace"]["late"] == 0
    # TTFT from the plan: the server's fixed TTFT, the lag and the server's own scheduling
    assert summary["metrics"]["ttft"]["p50"] <= TTFT_MS + 5.0, summary["metrics"]["ttft"]


def test_two_load_processes_split_the_rows_exactly(
    tmp_path: Path, reference_server_factory: Callable[..., ServerHandle]
) -> None:
    server = _server(reference_server_factory)
    summary = _replay(tmp_path, server.ws_url, "--workers", "2")
    _check_every_row_sent_once_from_its_plan(summary, server)
    by_process = summary["delivery"]["by_process"]
    assert len(by_process) == 2 and all(p["turns_sent"] > 0 for p in by_process.values())


def test_a_row_that_finds_no_free_user_goes_late_and_is_timed_from_its_plan(
    tmp_path: Path, reference_server_factory: Callable[..., ServerHandle]
) -> None:
    server = reference_server_factory("--ttft-ms", "100", "--itl-ms", "2", "--tokens", "1000")
    rows: list[tuple[int, int, int, str | None]] = [(0, 5, 2, None)] * 3
    _trace(tmp_path / "late.jsonl", rows)
    body = scenario_text(server.ws_url, users=1).replace('duration = "3s"\n', "")
    result, summary = run_scenario(tmp_path, body + '[trace]\nfile = "late.jsonl"\n')
    assert result.returncode == 0, result.stderr[-2000:]
    # one user, three rows at once: the second waits one turn (~100 ms), the third two
    assert summary["trace"]["sent"] == 3 and summary["trace"]["late"] == 2
    assert summary["metrics"]["send_lag"]["max"] >= 195.0  # two turns of >= 100 ms each (HDR rounds)
    assert summary["metrics"]["ttft"]["max"] >= 295.0  # its wait is in its TTFT (no coordinated omission)


# -- what each request carried, and when it came (a scripted server) ----------------------------


def _answer(i: int) -> Reply:
    deltas = [{"role": "assistant", "content": ""}, {"content": f"answer {i}"}]
    body = [chunk(event({"choices": [{"index": 0, "delta": delta}]})) for delta in deltas]
    return Reply(head(), *body, chunk(b"data: [DONE]\n\n"), LAST_CHUNK)


def _scripted_replay(tmp_path: Path, rows: list[tuple[int, int, int, str | None]], *options: str) -> list[Any]:
    _trace(tmp_path / "trace.jsonl", rows)
    with ScriptedServer(_answer(i) for i in itertools.count()) as server:
        body = scenario_text(server.url(), 'protocol = "openai-chat"', users=3).replace('duration = "3s"\n', "")
        result, summary = run_scenario(tmp_path, body + '[trace]\nfile = "trace.jsonl"\n', *options)
        requests = list(server.requests)
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary["trace"]["sent"] == len(rows) == len(requests)
    return requests


def test_a_conversation_goes_in_order_on_one_session_with_its_history(tmp_path: Path) -> None:
    rows: list[tuple[int, int, int, str | None]] = [
        (0, 5, 11, "x"),
        (100, 3, 21, None),
        (300, 6, 12, "x"),
        (400, 4, 22, None),
        (600, 7, 13, "x"),
    ]
    requests = _scripted_replay(tmp_path, rows)
    bodies = {body["max_tokens"]: body for body in (json.loads(r.body) for r in requests)}
    assert sorted(bodies) == [11, 12, 13, 21, 22]  # each row's max_tokens is its output_tokens
    for _, inputs, outputs, _ in rows:  # each row's user text is its input_tokens long (words)
        assert len(bodies[outputs]["messages"][-1]["content"].split()) == inputs
    turns = [bodies[n]["messages"] for n in (11, 12, 13)]
    assert [len(messages) for messages in turns] == [1, 3, 5]
    assert turns[1][:1] == turns[0] and turns[2][:3] == turns[1]  # the history, as sent and answered
    assert [m["role"] for m in turns[2]] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[2][1]["content"].startswith("answer") and turns[2][3]["content"].startswith("answer")
    assert len({bodies[n]["user"] for n in (11, 12, 13)}) == 1  # one session
    assert len(bodies[21]["messages"]) == len(bodies[22]["messages"]) == 1  # single-turn rows
    sent = [json.loads(r.body)["max_tokens"] for r in sorted(requests, key=lambda r: r.received_at)]
    assert [n for n in sent if n < 20] == [11, 12, 13]  # in order


def test_speed_two_halves_the_span_of_actual_sends(tmp_path: Path) -> None:
    rows: list[tuple[int, int, int, str | None]] = [(ms, 3, 2, None) for ms in (0, 300, 600, 900, 1200)]
    spans = []
    for speed in ("1", "2"):
        run_dir = tmp_path / speed
        run_dir.mkdir()
        requests = _scripted_replay(run_dir, rows, "--trace-speed", speed)
        times = sorted(r.received_at for r in requests)
        spans.append(times[-1] - times[0])
    assert spans[0] == pytest.approx(1.2, abs=0.03) and spans[1] == pytest.approx(0.6, abs=0.03), spans


def test_a_duration_given_caps_the_trace(tmp_path: Path, reference_server_factory: Callable[..., ServerHandle]) -> None:
    server = _server(reference_server_factory)
    _trace(tmp_path / "long.jsonl", [(ms, 3, 2, None) for ms in (0, 200, 20_000, 40_000)])
    body = scenario_text(server.ws_url, users=2, duration="1s")
    result, summary = run_scenario(tmp_path, body + '[trace]\nfile = "long.jsonl"\n')
    assert result.returncode == 0, result.stderr[-2000:]
    assert (summary["trace"]["sent"], summary["trace"]["unsent"]) == (2, 2)
    assert "2 of 4 trace rows were never sent" in summary["warnings"]
    steady = summary["phases"]["steady"]
    assert steady["end"] - steady["start"] < 2.5


def test_a_burstgpt_csv_replays_in_seconds_and_counts_the_rows_it_skips(tmp_path: Path) -> None:
    (tmp_path / "burst.csv").write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "10,ChatGPT,4,3,7,Conversation log\n"
        "10.2,ChatGPT,5,0,5,Conversation log\n"
        "10.5,GPT-4,6,2,8,API log\n"
    )
    with ScriptedServer(_answer(i) for i in itertools.count()) as server:
        body = scenario_text(server.url(), 'protocol = "openai-chat"', users=2).replace('duration = "3s"\n', "")
        result, summary = run_scenario(tmp_path, body + '[trace]\nfile = "burst.csv"\n')
        requests = sorted(server.requests, key=lambda r: r.received_at)
    assert result.returncode == 0, result.stderr[-2000:]
    trace = summary["trace"]
    assert (trace["rows"], trace["sent"], trace["skipped"]) == (2, 2, 1)
    assert [json.loads(r.body)["max_tokens"] for r in requests] == [3, 2]
    assert requests[1].received_at - requests[0].received_at == pytest.approx(0.5, abs=0.03)
