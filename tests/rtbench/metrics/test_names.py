from __future__ import annotations

import pytest

from rtbench.metrics.breakdowns import (
    BY_TURN_METRICS,
    BY_TURN_TAIL,
    by_turn_metric,
    by_turn_order,
    split_by_turn,
    turn_key_index,
)
from rtbench.metrics.names import (
    CODE_CHARS,
    CONNECT_FAILURE_KINDS,
    CONVERSATION_COUNTERS,
    COUNTERS,
    FAILURE_KINDS,
    LATENCY_METRICS,
    OTHER_ERROR_CODE,
    OWN_ERROR_CODES,
    SESSION_COUNTERS,
    TOKEN_COUNT_METHODS,
    TURN_METRICS,
    WHOLE_RUN_METRICS,
    ErrorCodeNames,
    bounded_error_counters,
    connect_failed_counter,
    connect_failed_kind,
    counter_safe_code,
    error_frame_code,
    error_frame_counter,
    failure_counter,
    failure_kind,
    token_method_counter,
)


def test_every_metric_has_a_one_line_definition() -> None:
    expected = {
        "connect",
        "ttft",
        "ttft_answer",
        "itl",
        "tpot",
        "e2e",
        "persona_switch",
        "ttft_same_persona",
        "recovery",
        "client_lag",
        "send_lag",
    }
    assert set(LATENCY_METRICS) == expected
    assert all(d and "\n" not in d for d in LATENCY_METRICS.values())
    assert set(TURN_METRICS) <= set(LATENCY_METRICS)


def test_persona_metrics_sit_side_by_side_with_their_definitions() -> None:
    """A system-prompt switch has no acknowledgement: persona_switch says what it is then, and
    ttft_same_persona (turn 1 excluded) follows it in report order."""
    names = list(LATENCY_METRICS)
    assert names.index("ttft_same_persona") == names.index("persona_switch") + 1
    assert "system-prompt switch" in LATENCY_METRICS["persona_switch"]
    assert "first turn after the switch" in LATENCY_METRICS["persona_switch"]
    assert "did not follow a persona switch" in LATENCY_METRICS["ttft_same_persona"]
    assert "turn 1 of a conversation excluded" in LATENCY_METRICS["ttft_same_persona"]


def test_conversation_counters_are_reported_with_one_line_definitions() -> None:
    assert list(CONVERSATION_COUNTERS) == [
        "conversations_started",
        "persona_switches",
        "context_truncations",
        "context_turns_dropped",
    ]
    assert set(CONVERSATION_COUNTERS) <= set(COUNTERS)
    assert all(d and "\n" not in d for d in CONVERSATION_COUNTERS.values())


@pytest.mark.parametrize(
    ("index", "name", "key"),
    [(1, "ttft@1", "1"), (3, "ttft@3", "3"), (9, "ttft@9", "9"), (10, "ttft@10+", "10+"), (57, "ttft@10+", "10+")],
)
def test_by_turn_names_are_made_and_split_in_one_place(index: int, name: str, key: str) -> None:
    assert BY_TURN_TAIL == 10
    assert by_turn_metric("ttft", index) == name
    assert split_by_turn(name) == ("ttft", key)
    assert turn_key_index(key) == min(index, BY_TURN_TAIL)


def test_by_turn_metrics_are_ttft_tpot_and_e2e() -> None:
    assert BY_TURN_METRICS == ("ttft", "tpot", "e2e")
    assert split_by_turn(by_turn_metric("e2e", 12)) == ("e2e", "10+")
    assert split_by_turn(by_turn_metric("tpot", 2)) == ("tpot", "2")


@pytest.mark.parametrize(
    "name", ["ttft", "persona_switch", "ttft_same_persona", "ttft@", "@3", "ttft@0", "ttft@03", "ttft@x", "ttft@3+x"]
)
def test_other_metric_names_are_not_by_turn(name: str) -> None:
    assert split_by_turn(name) is None


def test_a_turn_index_starts_at_one() -> None:
    with pytest.raises(ValueError, match="1 or more"):
        by_turn_metric("ttft", 0)


def test_turn_keys_sort_in_turn_order() -> None:
    keys = ["10+", "2", "1", "9", "3"]
    assert sorted(keys, key=by_turn_order) == ["1", "2", "3", "9", "10+"]
    assert turn_key_index("x") is None and turn_key_index("0") is None


def test_counter_names_are_derived_consistently() -> None:
    for kind in FAILURE_KINDS:
        assert failure_counter(kind) in COUNTERS
    for method in ("usage", "frames"):
        assert token_method_counter(method) in COUNTERS
    assert failure_counter("seq_gap") == "failed_seq_gap"


def test_session_counters_are_reported_with_one_line_definitions() -> None:
    assert set(SESSION_COUNTERS) <= set(COUNTERS)
    assert {"session_drops", "resumes_ok", "sessions_started", "sessions_lost", "session_us", "downtime_us"} <= set(
        SESSION_COUNTERS
    )
    assert all(d and "\n" not in d for d in SESSION_COUNTERS.values())
    assert error_frame_counter("seq_gap") == "error_frame_seq_gap"


def test_counter_names_decode_back_to_their_kind() -> None:
    """The producers' names (load/user.py, load/session.py) and the readers' decoding agree."""
    for kind in FAILURE_KINDS:
        assert failure_kind(failure_counter(kind)) == kind
    for kind in CONNECT_FAILURE_KINDS:
        assert connect_failed_counter(kind) == f"connect_failed_{kind}" and connect_failed_counter(kind) in COUNTERS
        assert connect_failed_kind(connect_failed_counter(kind)) == kind
    assert error_frame_code(error_frame_counter("http_404")) == "http_404"
    assert error_frame_counter("http_404") == "error_frame_http_404"
    # the totals and unrelated counters are not a kind of anything
    assert connect_failed_kind("connect_failed") is None and connect_failed_kind("connect_ok") is None
    assert error_frame_code("failed_error") is None and failure_kind("turns_failed") is None
    assert failure_kind("failed_") is None


def test_counters_used_by_the_load_layer_are_declared() -> None:
    assert {"turns_good", "session_timeout"} <= set(COUNTERS)
    assert all(token_method_counter(m) in COUNTERS for m in TOKEN_COUNT_METHODS)


def test_whole_run_metrics_are_connect_and_recovery() -> None:
    assert WHOLE_RUN_METRICS == {"connect", "recovery"} and WHOLE_RUN_METRICS <= set(LATENCY_METRICS)


def test_connect_failure_kinds_are_the_transports_error_kinds() -> None:
    from typing import get_args

    from rtbench.transports.base import ErrorKind

    assert set(get_args(ErrorKind)) == set(CONNECT_FAILURE_KINDS)


# -- error codes: bounded, sanitized counter names ------------------------------------------------


def test_codes_become_safe_bounded_counter_names() -> None:
    assert counter_safe_code("rate_limit-exceeded.v2") == "rate_limit-exceeded.v2"
    assert counter_safe_code("weird code\n\x00☃ !") == "weird_code"
    assert counter_safe_code("\ud800") == counter_safe_code("   ") == "unknown"
    assert len(counter_safe_code("x" * 10_000)) == CODE_CHARS


def test_a_process_names_the_first_codes_and_counts_the_rest_as_other() -> None:
    names = ErrorCodeNames(kept=3)
    counters = [names.counter(f"code {n}") for n in range(1000)] + [names.counter("code 1")]
    assert sorted(set(counters)) == [
        "error_frame_code_0",
        "error_frame_code_1",
        "error_frame_code_2",
        "error_frame_other",
    ]
    assert counters[-1] == "error_frame_code_1"  # a kept code stays kept
    for own in OWN_ERROR_CODES:  # rtbench's own codes always by name, however many came first
        assert names.counter(own) == error_frame_counter(own)


def test_the_own_codes_are_the_ones_rtbench_raises() -> None:
    from rtbench.load.session_machine import RESUME_FAILED
    from rtbench.protocols import events
    from rtbench.protocols.openai_chat import INCOMPLETE_STREAM

    raised = {getattr(events, name) for name in events.__all__ if name.isupper()}
    assert raised | {RESUME_FAILED, INCOMPLETE_STREAM, OTHER_ERROR_CODE} == OWN_ERROR_CODES


def test_merged_counters_keep_the_most_counted_codes_by_name() -> None:
    counters = {"turns_sent": 9, "error_frame_seq_gap": 1, "error_frame_other": 2}
    counters |= {f"error_frame_w{n}": n for n in range(1, 101)}  # two workers' codes merged
    bounded = bounded_error_counters(counters, kept=5)
    codes = [name for name in bounded if name.startswith("error_frame_")]
    assert set(codes) == {*(f"error_frame_w{n}" for n in range(96, 101)), "error_frame_seq_gap", "error_frame_other"}
    assert bounded["error_frame_other"] == 2 + sum(range(1, 96))
    assert bounded["turns_sent"] == 9 and bounded["error_frame_seq_gap"] == 1
    assert sum(bounded.values()) == sum(counters.values())  # nothing lost, only renamed
    assert bounded_error_counters({"error_frame_a": 1}, kept=5) == {"error_frame_a": 1}


# -- by-input metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "key"),
    [(1, "1"), (2, "2"), (3, "2"), (255, "128"), (256, "256"), (65535, "32768"), (65536, "65536+"), (10**6, "65536+")],
)
def test_input_buckets_are_power_of_two_floors(tokens: int, key: str) -> None:
    from rtbench.metrics.breakdowns import by_input_metric, input_bucket, split_by_input

    assert input_bucket(tokens) == key
    name = by_input_metric("ttft", tokens)
    assert name == f"ttft@in:{key}" and split_by_input(name) == ("ttft", key)


def test_by_input_names_are_told_apart_from_by_turn_names_and_plain_metrics() -> None:
    from rtbench.metrics.breakdowns import by_input_order, input_bucket, is_breakdown_metric, split_by_input

    assert split_by_turn("ttft@in:512") is None and split_by_input("ttft@3") is None
    assert split_by_input("ttft") is None and split_by_input("ttft@in:") is None and split_by_input("@in:4") is None
    assert split_by_input("ttft@in:0") is None and split_by_input("ttft@in:x") is None
    assert is_breakdown_metric("ttft@in:4") and is_breakdown_metric("ttft@10+")
    assert not is_breakdown_metric("ttft") and not is_breakdown_metric("ttft_answer")
    assert sorted(["65536+", "4", "1024", "1"], key=by_input_order) == ["1", "4", "1024", "65536+"]
    with pytest.raises(ValueError):
        input_bucket(0)


def test_input_token_counters_are_defined() -> None:
    from rtbench.metrics.names import INPUT_TOKEN_METHODS, input_method_counter

    assert INPUT_TOKEN_METHODS == ("usage", "tokenizer", "estimate")
    for method in INPUT_TOKEN_METHODS:
        assert input_method_counter(method) in COUNTERS
    assert "input_tokens" in COUNTERS and "reasoning_tokens" in COUNTERS
