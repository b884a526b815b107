"""RunConfig round-trips through dicts (to workers) and redacts secrets (for bundles)."""

from __future__ import annotations

import json

from rtbench.config import RunConfig, ThinkTime, redacted


def test_round_trip_through_json() -> None:
    config = RunConfig(
        users=7,
        think_time=ThinkTime(1.0, 2.0, True),
        prompts=("a", "b"),
        personas=(("default", 1.0), ("pirate", 2.0)),
        headers=(("X-Key", "v"),),
        slo={"ttft": ["p95 < 1s"]},
    )
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_replace_skips_none() -> None:
    config = RunConfig(users=5)
    assert config.replace(users=None, duration=3.0) == RunConfig(users=5, duration=3.0)


def test_redacts_secret_headers() -> None:
    config = RunConfig(headers=(("Authorization", "Bearer s3cret"), ("X-Api-Key", "k"), ("Accept", "json")))
    headers = dict(redacted(config)["headers"])
    assert headers == {"Authorization": "***", "X-Api-Key": "***", "Accept": "json"}
    assert "s3cret" not in json.dumps(redacted(config))


def test_redacts_headers_whose_values_came_from_the_environment() -> None:
    config = RunConfig(headers=(("X-Team", "blue"), ("X-Custom", "from-env")), secret_headers=("x-custom",))
    assert dict(redacted(config)["headers"]) == {"X-Team": "blue", "X-Custom": "***"}
