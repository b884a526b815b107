"""Token-length distributions: each written form parses, draws what it says, and a bad one is a
`ValueError` that says what was expected."""

from __future__ import annotations

import random
import statistics

import pytest

from rtbench.prompts.distributions import Distribution, parse_distribution

DRAWS = 20_000


def _quantiles(dist: Distribution, seed: int = 1) -> tuple[float, float]:
    rng = random.Random(seed)
    draws = sorted(dist.sample(rng) for _ in range(DRAWS))
    return draws[DRAWS // 2], draws[int(DRAWS * 0.95)]


@pytest.mark.parametrize(
    ("text", "p50", "p95", "rel"),
    [
        ("lognormal:200:800", 200, 800, 0.04),
        ("lognormal:50:60", 50, 60, 0.03),
        ("normal:400:50", 400, 400 + 1.6449 * 50, 0.02),
        ("exponential:300", 300 * 0.6931, 300 * 2.9957, 0.05),
        ("uniform:100:500", 300, 480, 0.02),
    ],
)
def test_draws_have_the_asked_for_median_and_95th_percentile(text: str, p50: float, p95: float, rel: float) -> None:
    dist = parse_distribution(text, "input_tokens")
    assert dist.text == text
    assert dist.p50 == pytest.approx(p50, rel=1e-3) and dist.p95 == pytest.approx(p95, rel=1e-3)
    got50, got95 = _quantiles(dist)
    assert got50 == pytest.approx(p50, rel=rel) and got95 == pytest.approx(p95, rel=rel)


def test_samples_are_integers_of_at_least_one_and_uniform_is_inclusive() -> None:
    rng = random.Random(3)
    wide = parse_distribution("normal:2:50")
    assert min(wide.sample(rng) for _ in range(2000)) == 1
    uniform = parse_distribution("uniform:3:5")
    assert {uniform.sample(rng) for _ in range(500)} == {3, 4, 5}
    assert all(type(wide.sample(rng)) is int for _ in range(100))


@pytest.mark.parametrize("value", [300, "300", "constant:300", " 300 "])
def test_a_constant_is_an_int_or_its_text(value: object) -> None:
    dist = parse_distribution(value)
    assert dist.sample(random.Random()) == 300 and dist.p50 == dist.p95 == 300
    assert dist.text == str(value).strip()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("gamma:2:3", "lognormal:P50:P95"),
        ("lognormal:800:200", "0 < P50 < P95"),
        ("lognormal:200", "lognormal:P50:P95"),
        ("uniform:5:3", "1 <= MIN <= MAX"),
        ("uniform:1.5:3", "integers"),
        ("exponential:0", "MEAN > 0"),
        (0, "an integer >= 1"),
        (-4, "an integer >= 1"),
        (True, "an integer >= 1"),
        (2.5, "an integer >= 1"),
        ("", "an integer >= 1"),
    ],
)
def test_a_bad_form_says_what_was_expected(value: object, says: str) -> None:
    with pytest.raises(ValueError, match="^input_tokens as ") as caught:
        parse_distribution(value, "input_tokens")
    assert says in str(caught.value)


def test_the_same_seed_draws_the_same_lengths() -> None:
    dist = parse_distribution("lognormal:200:800")
    first = [dist.sample(random.Random(7)) for _ in range(3)]
    again = [dist.sample(random.Random(7)) for _ in range(3)]
    assert first == again and statistics.pstdev(dist.sample(random.Random(i)) for i in range(50)) > 0
