"""Token-length distributions, as a scenario writes them: `input_tokens`, `max_tokens`.

    300                  # a fixed number (or "constant:300")
    "uniform:100:500"    # every integer from 100 to 500, inclusive, equally likely
    "normal:400:50"      # mean 400, standard deviation 50
    "lognormal:200:800"  # median (p50) 200, 95th percentile 800
    "exponential:300"    # mean 300

Samples are rounded to integers, and are at least 1. A lognormal's `P50:P95` set mu = ln P50 and
sigma = ln(P95 / P50) / 1.6449 (1.6449 is the standard normal's 95th percentile), so half the
samples are below P50 and 95 % below P95.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

__all__ = ["Distribution", "FORMS", "Z95", "parse_distribution"]

#: The standard normal's 95th percentile.
Z95 = 1.6448536269514722
#: The forms a distribution is written in, for error messages.
FORMS = 'an integer >= 1, "constant:N", "uniform:MIN:MAX", "normal:MEAN:SD", "lognormal:P50:P95" or "exponential:MEAN"'

_NUMBER = r"(\d+(?:\.\d+)?)"
_PATTERNS = {
    "constant": re.compile(rf"constant:{_NUMBER}"),
    "uniform": re.compile(rf"uniform:{_NUMBER}:{_NUMBER}"),
    "normal": re.compile(rf"normal:{_NUMBER}:{_NUMBER}"),
    "lognormal": re.compile(rf"lognormal:{_NUMBER}:{_NUMBER}"),
    "exponential": re.compile(rf"exponential:{_NUMBER}"),
}


@dataclass(frozen=True)
class Distribution:
    """A distribution of positive integers (token counts), drawn with a caller's `random.Random`."""

    #: "constant", "uniform", "normal", "lognormal" or "exponential".
    kind: str
    #: The form's numbers, as written (constant: N; uniform: MIN, MAX; normal: MEAN, SD;
    #: lognormal: P50, P95; exponential: MEAN).
    params: tuple[float, ...]
    #: As written in the scenario, for configs and bundles.
    text: str

    def sample(self, rng: random.Random) -> int:
        """One draw, rounded to an integer, at least 1."""
        kind, params = self.kind, self.params
        if kind == "constant":
            value = params[0]
        elif kind == "uniform":
            value = rng.randint(int(params[0]), int(params[1]))
        elif kind == "normal":
            value = rng.gauss(params[0], params[1])
        elif kind == "lognormal":
            p50, p95 = params
            value = rng.lognormvariate(math.log(p50), math.log(p95 / p50) / Z95)
        else:
            value = rng.expovariate(1.0 / params[0])
        return max(1, round(value))

    @property
    def p50(self) -> float:
        """The asked-for median (before rounding and the floor at 1)."""
        return self.quantile(0.5)

    @property
    def p95(self) -> float:
        """The asked-for 95th percentile (before rounding and the floor at 1)."""
        return self.quantile(0.95)

    def quantile(self, q: float) -> float:
        """The asked-for `q` quantile (0 < q < 1) of the continuous form."""
        kind, params = self.kind, self.params
        if kind == "constant":
            return params[0]
        if kind == "uniform":
            return params[0] + q * (params[1] - params[0])
        z = _normal_quantile(q)
        if kind == "normal":
            return params[0] + z * params[1]
        if kind == "lognormal":
            p50, p95 = params
            return p50 * math.exp(z * math.log(p95 / p50) / Z95)
        return -params[0] * math.log(1.0 - q)


def _normal_quantile(q: float) -> float:
    return NormalDist().inv_cdf(q)


def parse_distribution(value: Any, what: str = "a token count") -> Distribution:
    """A `Distribution` from an int N or one of the text forms; anything else raises
    `ValueError(<what was expected>)`, naming `what` (e.g. "input_tokens") and the forms."""
    if isinstance(value, bool):
        raise ValueError(f"{what} as {FORMS}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{what} as {FORMS}")
        return Distribution("constant", (float(value),), str(value))
    if not isinstance(value, str):
        raise ValueError(f"{what} as {FORMS}")
    text = value.strip()
    if text.isdigit() and int(text) >= 1:
        return Distribution("constant", (float(text),), text)
    kind = text.partition(":")[0]
    pattern = _PATTERNS.get(kind)
    match = pattern.fullmatch(text) if pattern is not None else None
    if match is None:
        raise ValueError(f"{what} as {FORMS}")
    params = tuple(float(group) for group in match.groups())
    _check(kind, params, what)
    return Distribution(kind, params, text)


def _check(kind: str, params: tuple[float, ...], what: str) -> None:
    """The form's numbers must make sense: raise ValueError saying what they must be."""
    if kind == "constant" and params[0] < 1:
        raise ValueError(f'{what} as "constant:N" with N >= 1')
    if kind == "uniform" and not (1 <= params[0] <= params[1] and params[0].is_integer() and params[1].is_integer()):
        raise ValueError(f'{what} as "uniform:MIN:MAX" with integers 1 <= MIN <= MAX')
    if kind == "normal" and params[0] <= 0:
        raise ValueError(f'{what} as "normal:MEAN:SD" with MEAN > 0')
    if kind == "lognormal" and not 0 < params[0] < params[1]:
        raise ValueError(f'{what} as "lognormal:P50:P95" with 0 < P50 < P95')
    if kind == "exponential" and params[0] <= 0:
        raise ValueError(f'{what} as "exponential:MEAN" with MEAN > 0')
