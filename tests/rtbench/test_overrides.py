"""Options as typed, laid over a scenario's values: only what was given, parsed with the option's
name in the one-line error, and headers merged by name."""

from __future__ import annotations

import pytest

from rtbench.config import ThinkTime
from rtbench.errors import ConfigError
from rtbench.overrides import DEFAULT_MASTER_BIND, RunOverrides, apply_overrides


def test_only_given_options_change_the_values() -> None:
    values = {"users": 7, "duration": 30.0, "think_time": ThinkTime(1.0, 1.0, pacing=True)}
    given = apply_overrides(values, RunOverrides(duration="2m", think_time="1s..2s"))
    assert values["users"] == 7 and values["duration"] == 120.0
    assert values["think_time"] == ThinkTime(1.0, 2.0, pacing=True)  # the scenario's pacing kept
    assert set(given) == {"duration", "think_time"}
    assert RunOverrides(seed=0).given() == {"seed": 0}  # 0 is given; None is not


def test_a_bad_option_is_one_line_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"^--duration: expected a duration.*, got 'forever'$"):
        apply_overrides({}, RunOverrides(duration="forever"))


def test_headers_replace_the_scenarios_of_the_same_name() -> None:
    values = {"headers": (("X-Team", "red"), ("Accept", "*/*")), "secret_headers": ()}
    apply_overrides(values, RunOverrides(headers=("x-team: blue",)))
    assert values["headers"] == (("Accept", "*/*"), ("x-team", "blue"))


def test_master_needs_workers_and_listens_on_every_interface_by_default() -> None:
    with pytest.raises(ConfigError, match="--expect-workers"):
        apply_overrides({}, RunOverrides(master=True))
    values: dict[str, object] = {}
    apply_overrides(values, RunOverrides(master=True, expect_workers=2))
    assert values["master_bind"] == DEFAULT_MASTER_BIND and values["expect_workers"] == 2
