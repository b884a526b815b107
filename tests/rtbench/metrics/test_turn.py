from __future__ import annotations

import dataclasses

import pytest

from rtbench.metrics.turn import TurnResult, TurnTimer


def _turn(usage: int | None = None) -> TurnResult:
    timer = TurnTimer(sent_at=0.0)
    timer.on_content(0.050, 1)
    timer.on_content(0.060, 1)
    timer.on_content(0.080, 2)
    return timer.finish(0.081, usage)


def test_frames_method_from_literal_timestamps() -> None:
    r = _turn()
    assert r.ttft_us == pytest.approx(50_000.0)
    assert r.e2e_us == pytest.approx(81_000.0)
    assert r.output_tokens == 4
    assert r.token_count_method == "frames"
    assert r.frames == 3
    # gaps: 10 ms for 1 token, then 20 ms shared by 2 tokens -> 10 ms each, recorded twice
    assert [(round(gap), n) for gap, n in r.itl] == [(10_000, 1), (10_000, 2)]
    assert r.tpot_us == pytest.approx((81_000.0 - 50_000.0) / 3)


def test_usage_method_overrides_frame_count() -> None:
    r = _turn(usage=5)
    assert r.output_tokens == 5
    assert r.token_count_method == "usage"
    assert r.tpot_us == pytest.approx(31_000.0 / 4)
    assert r.ttft_us == pytest.approx(50_000.0)
    assert [(round(gap), n) for gap, n in r.itl] == [(10_000, 1), (10_000, 2)]


def test_unequal_gaps_per_token() -> None:
    timer = TurnTimer(sent_at=10.0)
    timer.on_content(10.100, 3)
    timer.on_content(10.130, 3)
    timer.on_content(10.190, 1)
    r = timer.finish(10.200)
    assert r.ttft_us == pytest.approx(100_000.0)
    assert [(round(gap), n) for gap, n in r.itl] == [(10_000, 3), (60_000, 1)]
    assert r.output_tokens == 7
    assert r.tpot_us == pytest.approx(100_000.0 / 6)


def test_single_token_has_no_tpot_and_no_itl() -> None:
    timer = TurnTimer(sent_at=1.0)
    timer.on_content(1.2, 1)
    r = timer.finish(1.25)
    assert r.ttft_us == pytest.approx(200_000.0)
    assert r.tpot_us is None
    assert r.itl == ()
    assert r.output_tokens == 1


def test_no_content_frames() -> None:
    r = TurnTimer(sent_at=2.0).finish(2.5, usage_tokens=0)
    assert r.ttft_us is None
    assert r.tpot_us is None
    assert r.e2e_us == pytest.approx(500_000.0)
    assert r.frames == 0
    # usage may claim tokens even though no frame carried content: no ttft, so no tpot
    assert TurnTimer(sent_at=2.0).finish(2.5, usage_tokens=9).tpot_us is None


def test_frames_without_tokens_are_not_content() -> None:
    timer = TurnTimer(sent_at=0.0)
    timer.on_content(0.010, 0)  # e.g. a role-only delta
    timer.on_content(0.040, 1)
    timer.on_content(0.050, 1)
    r = timer.finish(0.050)
    assert r.ttft_us == pytest.approx(40_000.0)
    assert r.frames == 2
    assert [(round(gap), n) for gap, n in r.itl] == [(10_000, 1)]


def test_result_is_frozen() -> None:
    r = _turn()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.e2e_us = 1.0  # type: ignore[misc]


def test_reasoning_first_gives_ttft_answer_at_the_first_answer_frame() -> None:
    timer = TurnTimer(sent_at=1.0)
    timer.on_content(1.020, 1, reasoning=True)
    timer.on_content(1.030, 1, reasoning=True)
    timer.on_content(1.045, 1)
    timer.on_content(1.050, 1, reasoning=True)  # late reasoning does not move the answer's start
    r = timer.finish(1.060)
    assert r.ttft_us == pytest.approx(20_000.0)  # the first token of any kind
    assert r.ttft_answer_us == pytest.approx(45_000.0)
    assert r.reasoning_tokens == 3 and r.output_tokens == 4  # reasoning is output too


def test_no_ttft_answer_without_reasoning_first() -> None:
    answer_first = TurnTimer(0.0)
    answer_first.on_content(0.010, 1)
    answer_first.on_content(0.020, 1, reasoning=True)
    assert answer_first.finish(0.030).ttft_answer_us is None
    only_reasoning = TurnTimer(0.0)
    only_reasoning.on_content(0.010, 2, reasoning=True)
    result = only_reasoning.finish(0.030)
    assert result.ttft_answer_us is None and result.reasoning_tokens == 2
    assert _turn().ttft_answer_us is None and _turn().reasoning_tokens == 0


def test_input_tokens_from_usage_first_else_the_clients_count() -> None:
    timer = TurnTimer(0.0)
    timer.on_content(0.010, 1)
    by_usage = timer.finish(0.02, usage_tokens=1, usage_input=17, client_input=12, client_method="tokenizer")
    assert (by_usage.input_tokens, by_usage.input_token_method) == (17, "usage")
    by_client = timer.finish(0.02, usage_tokens=1, usage_input=None, client_input=12, client_method="tokenizer")
    assert (by_client.input_tokens, by_client.input_token_method) == (12, "tokenizer")
    by_default = timer.finish(0.02)
    assert (by_default.input_tokens, by_default.input_token_method) == (0, "estimate")
    assert timer.first_token_us == pytest.approx(10_000.0) and timer.tokens_seen == 1
