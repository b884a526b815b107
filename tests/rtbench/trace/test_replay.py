"""Reading traces: rtbench's JSONL, Mooncake's JSONL and BurstGPT's CSV, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.errors import ConfigError
from rtbench.trace.replay import TraceRow, load_trace


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rtbench_jsonl_rows_with_and_without_a_conversation() -> None:
    path = Path(__file__).parents[3] / "scenarios" / "trace-example.jsonl"
    trace = load_trace(path)
    assert len(trace.rows) >= 8 and not trace.sorted and not trace.skipped
    assert any(row.conversation_id is not None for row in trace.rows)
    assert any(row.conversation_id is None for row in trace.rows)


def test_fields_and_blank_lines(tmp_path: Path) -> None:
    text = (
        '{"timestamp_ms": 0, "input_tokens": 12, "output_tokens": 3}\n\n'
        '{"timestamp_ms": 250.5, "input_tokens": 4, "output_tokens": 9, "conversation_id": 7, "other": 1}\n'
    )
    trace = load_trace(_write(tmp_path, "t.jsonl", text))
    assert trace.rows == (TraceRow(1, 0.0, 12, 3), TraceRow(3, 250.5, 4, 9, "7"))
    assert trace.span_ms == 250.5


def test_mooncake_field_names(tmp_path: Path) -> None:
    text = (
        '{"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47]}\n'
        '{"timestamp": 30535, "input_length": 6472, "output_length": 26, "hash_ids": [46, 52]}\n'
    )
    trace = load_trace(_write(tmp_path, "mooncake.jsonl", text))
    assert [(r.timestamp_ms, r.input_tokens, r.output_tokens) for r in trace.rows] == [
        (27482.0, 6955, 52),
        (30535.0, 6472, 26),
    ]
    assert trace.span_ms == 3053.0


def test_burstgpt_csv_in_seconds_skips_failed_and_empty_rows(tmp_path: Path) -> None:
    text = (
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n"
        "45,ChatGPT,1087,0,1087,Conversation log\n"
        "118,GPT-4,417,276,693,API log\n"
        "130,GPT-4,20,30,50,Failed API log\n"
    )
    trace = load_trace(_write(tmp_path, "burst.csv", text))
    assert [(r.line, r.timestamp_ms, r.input_tokens, r.output_tokens) for r in trace.rows] == [
        (2, 5000.0, 472, 18),
        (4, 118000.0, 417, 276),
    ]
    assert trace.skipped == (3, 5)


def test_rows_out_of_order_are_sorted_by_time_keeping_file_order_for_ties(tmp_path: Path) -> None:
    rows = [(300, "a"), (100, "b"), (100, "c"), (0, "d")]
    text = "".join(
        f'{{"timestamp_ms": {t}, "input_tokens": 1, "output_tokens": 1, "conversation_id": "{c}"}}\n' for t, c in rows
    )
    trace = load_trace(_write(tmp_path, "t.jsonl", text))
    assert [row.conversation_id for row in trace.rows] == ["d", "b", "c", "a"] and trace.sorted


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.jsonl", "", "t.jsonl:1: empty trace"),
        ("t.jsonl", "\n\n\n", "t.jsonl:3: empty trace"),
        ("t.jsonl", '{"timestamp_ms": 0, "input_tokens": 1, "output_tokens": 1}\n{oops\n', "t.jsonl:2: not JSON"),
        ("t.jsonl", "[1, 2]\n", "t.jsonl:1: expected a JSON object"),
        (
            "t.jsonl",
            '{"input_tokens": 1, "output_tokens": 1}\n',
            "t.jsonl:1: no timestamp_ms (or Mooncake's timestamp)",
        ),
        (
            "t.jsonl",
            '{"timestamp_ms": -5, "input_tokens": 1, "output_tokens": 1}\n',
            "t.jsonl:1: timestamp_ms: a negative",
        ),
        (
            "t.jsonl",
            '{"timestamp_ms": "1", "input_tokens": 1, "output_tokens": 1}\n',
            "timestamp_ms: expected a number",
        ),
        (
            "t.jsonl",
            '{"timestamp_ms": 1, "input_tokens": 0, "output_tokens": 1}\n',
            "t.jsonl:1: input_tokens: expected",
        ),
        ("t.jsonl", '{"timestamp_ms": 1, "input_tokens": 2, "output_tokens": 1.5}\n', "output_tokens: expected an int"),
        (
            "t.jsonl",
            '{"timestamp_ms": 1, "input_tokens": 2, "output_tokens": 1, "conversation_id": [1]}\n',
            "t.jsonl:1: conversation_id: expected a string or an integer",
        ),
        ("b.csv", "Timestamp,Model\n1,x\n", "b.csv:1: a BurstGPT CSV header needs the columns Request tokens"),
        ("b.csv", "Timestamp,Request tokens,Response tokens\nsoon,1,1\n", "b.csv:2: Timestamp: expected a number"),
        ("b.csv", "Timestamp,Request tokens,Response tokens\n-1,1,1\n", "b.csv:2: Timestamp: a negative timestamp"),
        ("b.csv", "Timestamp,Request tokens,Response tokens\n1,1,0\n", "b.csv:2: no row to replay (1 skipped)"),
    ],
)
def test_errors_are_one_line_naming_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_trace(_write(tmp_path, name, text))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / name) + ":")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.jsonl:1: no such trace file$"):
        load_trace(tmp_path / "nope.jsonl")
