"""RunConfig round-trips through dicts (to workers) and redacts secrets (for bundles)."""

from __future__ import annotations

import dataclasses
import json

from rtbench.config import (
    WIRE_KEYS,
    LoadConfig,
    PromptsConfig,
    RunConfig,
    TargetConfig,
    ThinkTime,
    redacted,
)
from rtbench.faults import ServerPlan
from rtbench.shape import Stage

#: The flat keys of summary.json `config` and run.json, in their order, before sub-configs existed.
BUNDLE_KEYS = [
    *("scenario", "target", "protocol", "users", "spawn_rate", "duration", "think_time", "arrival", "rate"),
    *("max_in_flight", "shape", "prompts", "max_tokens", "personas", "persona_switch_probability", "workers"),
    *("expect_workers", "master_bind", "worker_wait", "adapter_options", "connect_timeout", "turn_timeout"),
    *("first_token_timeout", "idle_timeout", "down_after", "recovery", "recovery_backoff_initial"),
    *("recovery_backoff_max",),
    *("recovery_backoff_multiplier", "recovery_jitter", "recovery_max_retries", "stop_grace", "include_ramp"),
    *("headers", "secret_headers", "ca_file", "source_addrs", "insecure", "target_pid", "target_metrics", "seed"),
    *("slo", "server", "faults", "turn_limits_ms", "source_file"),
    *("conversation", "conversation_turns", "history", "max_context_tokens", "persona_systems", "persona_models"),
    *("prompt_file", "input_tokens", "prefix_tokens", "tokenizer"),
    # shapes
    *("requests", "conversations"),
    # wire
    *("compression",),
    # throughput
    *("export_turns", "export_content"),
    # trace
    *("trace_file", "trace_speed"),
]


def full_config() -> RunConfig:
    return RunConfig.from_dict(
        {
            "users": 7,
            "think_time": {"low": 1.0, "high": 2.0, "pacing": True},
            "prompts": ["a", "b"],
            "personas": [["default", 1.0], ["pirate", 2.0]],
            "headers": [["X-Key", "v"]],
            "slo": {"ttft": ["p95 < 1s"]},
            "shape": {"kind": "ramp", "to_users": 4, "over": "2s", "hold": "1s"},
            "server": {"ttft_ms": 20, "deflate": False},
            "faults": {"kill_after": "3s", "restart_after": "1s"},
            "recovery": False,
            "target_pid": 42,
            "input_tokens": "lognormal:200:800",
            "max_tokens": 8,
            "prefix_tokens": 100,
        }
    )


def test_round_trip_through_json() -> None:
    config = full_config()
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.load.think_time == ThinkTime(1.0, 2.0, True)
    assert config.conversation.personas == (("default", 1.0), ("pirate", 2.0))
    assert config.recovery.enabled is False and config.target.pid == 42
    assert config.prompts == PromptsConfig(("a", "b"), None, "lognormal:200:800", 100, 8, None)


def test_derived_parts_are_rebuilt_from_their_tables() -> None:
    config = full_config()
    assert config.shape.spec is not None and config.shape.spec.stages[-1] == Stage(3.0, 4, 10.0)
    assert config.server.plan == ServerPlan(("--ttft-ms", "20", "--no-deflate"), 3.0, 1.0)


def test_the_flat_layout_of_bundles_is_unchanged() -> None:
    data = RunConfig().to_dict()
    assert list(data) == BUNDLE_KEYS == list(WIRE_KEYS)
    assert data["target"] == "ws://127.0.0.1:8765/ws" and data["recovery"] is True
    assert data["think_time"] == {"low": 1.0, "high": 1.0, "pacing": False}
    assert data["target_pid"] is None and data["shape"] == {} and data["faults"] == {}


def test_to_dict_copies_tables() -> None:
    config = full_config()
    config.to_dict()["slo"]["ttft"].append("p99 < 2s")
    assert config.slo == {"ttft": ["p95 < 1s"]}


def test_replace_applies_none_too() -> None:
    config = RunConfig(load=LoadConfig(users=5, rate=3.0, arrival="constant"))
    cleared = config.replace(load=config.load.replace(rate=None, arrival="closed"))
    assert cleared.load.rate is None and cleared.load.users == 5
    assert config.replace(seed=None, scenario="x") == RunConfig(load=config.load, scenario="x")
    assert RunConfig(seed=3).replace(seed=None).seed is None


def test_unknown_wire_keys_are_refused() -> None:
    try:
        RunConfig.from_dict({"user": 3})
    except ValueError as exc:
        assert "user" in str(exc)
    else:
        raise AssertionError("an unknown key was accepted")


def test_redacts_secret_headers() -> None:
    config = RunConfig(
        target=TargetConfig(headers=(("Authorization", "Bearer s3cret"), ("X-Api-Key", "k"), ("Accept", "json")))
    )
    headers = dict(redacted(config)["headers"])
    assert headers == {"Authorization": "***", "X-Api-Key": "***", "Accept": "json"}
    assert "s3cret" not in json.dumps(redacted(config))


def test_redacts_headers_whose_values_came_from_the_environment() -> None:
    target = TargetConfig(headers=(("X-Team", "blue"), ("X-Custom", "from-env")), secret_headers=("x-custom",))
    assert dict(redacted(RunConfig(target=target))["headers"]) == {"X-Team": "blue", "X-Custom": "***"}


def test_sub_configs_are_frozen() -> None:
    config = RunConfig(prompts=PromptsConfig(texts=("x",)))
    try:
        config.prompts.texts = ("y",)  # type: ignore[misc,unused-ignore]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a sub-config could be changed in place")
