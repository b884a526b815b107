"""The latency model: distributions, seeded draws and frame schedules (pure)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from reference_server.latency import (
    Distribution,
    FrameSlot,
    LatencyProfile,
    parse_distribution,
    plan_turn,
    token_text,
    turn_rng,
)


def test_parse_distribution_forms() -> None:
    assert parse_distribution("50") == Distribution("fixed", 50.0)
    assert parse_distribution("fixed:7.5") == Distribution("fixed", 7.5)
    assert parse_distribution("lognormal:50:120") == Distribution("lognormal", 50.0, 120.0)
    assert parse_distribution(" uniform:10:20 ") == Distribution("uniform", 10.0, 20.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "lognormal:50",
        "uniform:1:2:3",
        "gamma:1:2",
        "lognormal:120:50",
        "uniform:5:1",
        "-3",
        "nan",
        "lognormal:0:5",
    ],
)
def test_parse_distribution_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_distribution(text)


def test_fixed_draws_need_no_rng() -> None:
    assert Distribution.fixed(12.0).sample(None) == 12.0
    assert Distribution("uniform", 3.0, 3.0).sample(None) == 3.0


def test_lognormal_fits_median_and_p95() -> None:
    dist = Distribution("lognormal", 50.0, 120.0)
    rng = random.Random(7)
    draws = sorted(dist.sample(rng) for _ in range(40_000))
    median = statistics.median(draws)
    p95 = draws[int(0.95 * len(draws))]
    # Sampling error of these quantiles at n=40k is well under 2 %.
    assert median == pytest.approx(50.0, rel=0.02)
    assert p95 == pytest.approx(120.0, rel=0.03)
    assert dist.sigma == pytest.approx(math.log(120 / 50) / 1.6448536, rel=1e-6)


def test_uniform_stays_in_range_and_spreads() -> None:
    dist = Distribution("uniform", 10.0, 20.0)
    rng = random.Random(1)
    draws = [dist.sample(rng) for _ in range(10_000)]
    assert 10.0 <= min(draws) < 10.1 and 19.9 < max(draws) <= 20.0
    assert statistics.mean(draws) == pytest.approx(15.0, abs=0.15)


def test_turn_rng_is_reproducible_per_key() -> None:
    profile = LatencyProfile(ttft_ms=Distribution("lognormal", 50, 100), itl_ms=Distribution("uniform", 5, 15))
    first = [s.offset_s for s in plan_turn(profile, turn_rng(profile, 42, 0, 3, 1)).frames]
    again = [s.offset_s for s in plan_turn(profile, turn_rng(profile, 42, 0, 3, 1)).frames]
    other_turn = [s.offset_s for s in plan_turn(profile, turn_rng(profile, 42, 0, 3, 2)).frames]
    other_seed = [s.offset_s for s in plan_turn(profile, turn_rng(profile, 43, 0, 3, 1)).frames]
    assert first == again
    assert first != other_turn and first != other_seed


def test_turn_rng_is_none_for_a_fixed_profile() -> None:
    assert turn_rng(LatencyProfile(), 1, "x") is None


def test_fixed_schedule_is_absolute_offsets() -> None:
    profile = LatencyProfile(Distribution.fixed(50), Distribution.fixed(10), Distribution.fixed(4))
    plan = plan_turn(profile, None)
    assert plan.tokens == 4
    frames = list(plan.frames)
    assert [f.tokens for f in frames] == [1, 1, 1, 1]
    assert [f.first_token for f in frames] == [0, 1, 2, 3]
    assert [round(f.offset_s, 9) for f in frames] == [0.05, 0.06, 0.07, 0.08]


def test_prefill_delays_every_frame_by_the_same_amount() -> None:
    profile = LatencyProfile(Distribution.fixed(50), Distribution.fixed(10), Distribution.fixed(3))
    frames = list(plan_turn(profile, None, prefill_ms=125.0).frames)
    assert [round(f.offset_s, 9) for f in frames] == [0.175, 0.185, 0.195]
    random = LatencyProfile(Distribution("uniform", 10, 90), Distribution.fixed(1), Distribution.fixed(2))
    plain = list(plan_turn(random, turn_rng(random, 3, "k"), prefill_ms=0.0).frames)
    delayed = list(plan_turn(random, turn_rng(random, 3, "k"), prefill_ms=40.0).frames)
    assert [round(d.offset_s - p.offset_s, 9) for p, d in zip(plain, delayed, strict=True)] == [0.04, 0.04]


def test_tokens_per_frame_coalesces_and_times_by_last_token() -> None:
    profile = LatencyProfile(Distribution.fixed(50), Distribution.fixed(10), Distribution.fixed(10), tokens_per_frame=4)
    frames = list(plan_turn(profile, None).frames)
    assert frames == [
        FrameSlot(pytest.approx(0.08), 0, 4),
        FrameSlot(pytest.approx(0.12), 4, 4),
        FrameSlot(pytest.approx(0.14), 8, 2),
    ]


def test_max_tokens_caps_the_response() -> None:
    profile = LatencyProfile(tokens=Distribution.fixed(20))
    assert plan_turn(profile, None, max_tokens=3).tokens == 3
    assert len(list(plan_turn(profile, None, max_tokens=3).frames)) == 3
    assert plan_turn(profile, None, max_tokens=500).tokens == 20


def test_random_token_counts_are_at_least_one() -> None:
    profile = LatencyProfile(tokens=Distribution("uniform", 0, 2))
    rng = random.Random(3)
    counts = {plan_turn(profile, rng).tokens for _ in range(200)}
    assert counts <= {1, 2} and 1 in counts


def test_random_itl_keeps_offsets_increasing() -> None:
    profile = LatencyProfile(Distribution.fixed(5), Distribution("lognormal", 3, 9), Distribution.fixed(200))
    offsets = [f.offset_s for f in plan_turn(profile, random.Random(5)).frames]
    assert offsets[0] == pytest.approx(0.005)
    assert all(b > a for a, b in zip(offsets, offsets[1:], strict=False))


def test_token_text() -> None:
    assert token_text(0, 1) == "tok0 "
    assert token_text(4, 3) == "tok4 tok5 tok6 "
