from __future__ import annotations

import dataclasses

import pytest

from reference_server.config import FAULT_KEYS, FaultConfig, ServerConfig
from reference_server.flags import build_parser, config_from_flags, option_keys
from reference_server.schema import settings
from rtbench.config import parse_duration
from rtbench.faults import PROCESS_FAULTS, RENAMED_FAULTS, ServerPlan, fault_keys, plan_server, server_flags


def plan(server: dict | None = None, faults: dict | None = None) -> ServerPlan:
    return plan_server(server or {}, faults or {}, parse_duration)


def test_server_table_becomes_flags() -> None:
    table = {"ttft_ms": 50, "procs": 2, "deflate": False, "persona": ["a:ttft_ms=1", "b:ttft_ms=2"], "loop": "asyncio"}
    assert server_flags(table) == (
        "--ttft-ms",
        "50",
        "--procs",
        "2",
        "--no-deflate",
        "--persona",
        "a:ttft_ms=1",
        "--persona",
        "b:ttft_ms=2",
        "--loop",
        "asyncio",
    )
    with pytest.raises(ValueError, match=r"\[server\].tokens: expected a number"):
        server_flags({"tokens": {"a": 1}})
    with pytest.raises(ValueError, match=r"\[server\].x: unknown reference server option \(known: .*ttft_ms"):
        server_flags({"x": 1})


def test_faults_become_server_flags_and_a_kill_schedule() -> None:
    got = plan(
        {"ttft_ms": 20},
        {
            "drop_rate": 0.1,
            "drop_after_s": "5s..20s",
            "stall_ms": 200,
            "stall_every_s": "10s",
            "error_rate": 0.01,
            "drop_on_signal": 0.5,
            "kill_after": "10s",
            "restart_after": "3s",
        },
    )
    assert got == ServerPlan(
        (
            "--ttft-ms",
            "20",
            "--drop-rate",
            "0.1",
            "--drop-after-s",
            "5:20",
            "--stall-ms",
            "200",
            "--stall-every-s",
            "10",
            "--error-rate",
            "0.01",
            "--drop-on-signal",
            "0.5",
        ),
        10.0,
        3.0,
    )
    assert plan() == ServerPlan()
    assert plan(faults={"drop_after_s": [2, 4]}).flags == ("--drop-after-s", "2:4")
    assert plan(faults={"drop_after_s": "3s"}).flags == ("--drop-after-s", "3:3")


@pytest.mark.parametrize(
    ("server", "faults", "message"),
    [
        ({}, {"drop_rate": 2}, r"^\[faults\].drop_rate: --drop-rate must be within 0..1$"),
        ({}, {"drop_rate": "lots"}, r"^\[faults\].drop_rate: expected a number, got 'lots'$"),
        ({}, {"drop_after_s": "soon"}, r"^\[faults\].drop_after_s: expected a duration or range"),
        ({}, {"drop_after_s": "9s..2s"}, r"^\[faults\].drop_after_s: --drop-after-s needs 0 <= MIN <= MAX$"),
        ({}, {"stall_ms": 2000, "stall_every_s": 1}, r"^\[faults\].stall_ms: --stall-ms must be shorter than"),
        ({}, {"explode": 1}, r"^\[faults\].explode: unknown fault \(known: .*kill_after"),
        ({}, {"restart_after": "1s"}, r"^\[faults\].restart_after: expected kill_after too$"),
        ({}, {"kill_after": "later"}, r"^\[faults\].kill_after: expected a duration"),
        ({"procs": 0}, {}, r"^\[server\].procs: --procs must be >= 1$"),
        ({"ttft_ms": "soon"}, {}, r"^\[server\].ttft_ms: argument --ttft-ms: 'soon' is not a number"),
        ({"deflate": "yes"}, {}, r"^\[server\]: unrecognized arguments: yes$"),
    ],
)
def test_bad_tables_are_one_line_naming_the_key(server: dict, faults: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        plan(server, faults)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED_FAULTS.items()))
def test_old_fault_names_say_the_new_one(old: str, new: str) -> None:
    with pytest.raises(ValueError, match=rf"^\[faults\].{old}: renamed {new}, the reference server's own name$"):
        plan(faults={old: "1s"})


# -- the two sides agree, by construction and by test -------------------------------------------


def test_fault_keys_are_the_servers_fault_settings() -> None:
    assert set(fault_keys()) == set(FAULT_KEYS) == {f.name for f in dataclasses.fields(FaultConfig)}
    assert not set(PROCESS_FAULTS) & set(FAULT_KEYS)
    assert set(RENAMED_FAULTS.values()) <= set(FAULT_KEYS)
    assert not set(RENAMED_FAULTS) & set(FAULT_KEYS)


def test_server_keys_are_the_servers_flags() -> None:
    flags = {a.dest for a in build_parser()._actions if a.option_strings and a.help != "==SUPPRESS=="} - {"help"}
    assert set(option_keys()) == flags
    assert {s.name for s in settings(ServerConfig)} <= flags  # every top-level server setting can be set


def test_every_fault_reaches_the_server_as_set() -> None:
    """Each [faults] key, set away from its default, arrives in the server's FaultConfig."""
    values = {"drop_rate": 0.25, "drop_after_s": "2s..3s", "stall_ms": 5, "stall_every_s": "2s"}
    values |= {"error_rate": 0.5, "drop_on_signal": 0.75, "close_after_stream": True}
    assert set(values) == set(fault_keys())  # a new server fault must be added here, and to this test
    got = config_from_flags(plan(faults=values).flags).faults
    assert got == FaultConfig(
        drop_rate=0.25,
        drop_after_s=(2.0, 3.0),
        stall_ms=5.0,
        stall_every_s=2.0,
        error_rate=0.5,
        drop_on_signal=0.75,
        close_after_stream=True,
    )
    assert all(getattr(got, k) != getattr(FaultConfig(), k) for k in fault_keys())


def test_a_switch_fault_takes_a_boolean() -> None:
    assert "--no-close-after-stream" in plan(faults={"close_after_stream": False}).flags
    with pytest.raises(ValueError, match=r"^\[faults\]\.close_after_stream: expected true or false, got 1$"):
        plan(faults={"close_after_stream": 1})
