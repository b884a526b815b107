"""`[load] requests`/`conversations` and `--requests`/`--conversations`, resolved into a RunConfig."""

from __future__ import annotations

import tomllib

import pytest

from rtbench.config import RunConfig
from rtbench.errors import ConfigError
from rtbench.overrides import RunOverrides
from rtbench.scenario import FIXED_WORK_LIMIT_S, resolve

BASE = '[scenario]\nname = "x"\n[load]\nusers = 2\n'


def test_requests_make_the_duration_a_safety_limit_and_report_every_phase() -> None:
    config = resolve(tomllib.loads(BASE + "requests = 50\n"), source="s.toml")
    assert config.load.fixed_work == ("requests", 50)
    assert config.load.duration == FIXED_WORK_LIMIT_S == 3600.0
    assert config.load.include_ramp
    capped = resolve(tomllib.loads(BASE), RunOverrides(requests=5, duration="20s"))
    assert capped.load.duration == 20.0 and capped.load.fixed_work == ("requests", 5)
    assert RunConfig.from_dict(config.to_dict()).load.requests == 50  # travels to workers


def test_an_option_wins_over_the_scenarios_other_unit() -> None:
    text = BASE + "requests = 50\n[conversation]\nturns = 2\n"
    config = resolve(tomllib.loads(text), RunOverrides(conversations=3))
    assert config.load.fixed_work == ("conversations", 3) and config.load.requests is None


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (BASE, RunOverrides(requests=0), "--requests: expected a positive integer, got 0"),
        (BASE, RunOverrides(requests=2, conversations=2), "--requests and --conversations: give one of the two"),
        (
            BASE,
            RunOverrides(conversations=2),
            "--conversations: counts [conversation]s; the scenario has no [conversation] table",
        ),
        (BASE + "requests = 0\n", None, "s.toml: [load].requests: expected a positive integer, got 0"),
        (BASE + "requests = 2\nconversations = 2\n", None, "s.toml: [load]: give requests or conversations, not both"),
    ],
)
def test_bad_fixed_work_is_one_line(text: str, overrides: RunOverrides | None, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(tomllib.loads(text), overrides, source="s.toml")
    assert str(info.value) == message
