"""`resolve(table, overrides)`: a scenario table and the user's options, parsed once into a RunConfig."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

import rtbench.scenario
from rtbench.config import RunConfig, ThinkTime
from rtbench.errors import ConfigError
from rtbench.faults import ServerPlan
from rtbench.overrides import DEFAULT_MASTER_BIND, RunOverrides
from rtbench.scenario import resolve

SCENARIO = """
[scenario]
name = "x"
[target]
url = "ws://127.0.0.1:9/ws"
headers = { Authorization = "Bearer abc", X-Team = "blue" }
[load]
users = 3
duration = "10s"
think_time = "2s"
pacing = true
"""


def table(text: str = SCENARIO) -> dict[str, Any]:
    return tomllib.loads(text)


def test_no_overrides_is_the_scenario() -> None:
    config = resolve(table(), source="s.toml")
    assert (config.scenario, config.target.url, config.load.users, config.load.duration) == (
        "x",
        "ws://127.0.0.1:9/ws",
        3,
        10.0,
    )
    assert config.load.think_time == ThinkTime(2.0, 2.0, True) and config.source_file == "s.toml"
    assert resolve(table(), RunOverrides(), "s.toml") == config


def test_options_are_parsed_and_laid_over_the_scenario() -> None:
    overrides = RunOverrides(
        target="http://127.0.0.1:8/v1",
        users=7,
        spawn_rate=2.5,
        duration="2m",
        think_time="1s..3s",
        workers="auto",
        source_addrs="127.0.0.2-127.0.0.3",
        worker_wait="5m",
        include_ramp=True,
        target_pid=12,
        target_metrics="http://h/metrics",
        seed=4,
        ca_file="/ca.pem",
        insecure=True,
    )
    config = resolve(table(), overrides, "s.toml")
    assert config.target.url == "http://127.0.0.1:8/v1" and config.target.pid == 12
    assert config.target.metrics_url == "http://h/metrics" and config.target.ca_file == "/ca.pem"
    assert config.target.insecure is True and config.seed == 4
    load = config.load
    assert (load.users, load.spawn_rate, load.duration, load.workers, load.worker_wait) == (7, 2.5, 120.0, 0, 300.0)
    assert load.think_time == ThinkTime(1.0, 3.0, True)  # the scenario's pacing stays
    assert load.source_addrs == ("127.0.0.2", "127.0.0.3") and load.include_ramp is True


def test_adapter_wins_over_protocol() -> None:
    config = resolve(table(), RunOverrides(protocol="openai-chat", adapter="pkg.mod:Adapter"))
    assert config.target.protocol == "pkg.mod:Adapter"
    assert resolve(table(), RunOverrides(protocol="openai-chat")).target.protocol == "openai-chat"


def test_header_options_replace_headers_of_the_same_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTBENCH_TEST_TOKEN", "s3cret")
    config = resolve(table(), RunOverrides(headers=("authorization: Bearer ${RTBENCH_TEST_TOKEN}", "X-New: 1")))
    assert config.target.headers == (("X-Team", "blue"), ("authorization", "Bearer s3cret"), ("X-New", "1"))
    assert config.target.secret_headers == ("authorization",)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (RunOverrides(duration="soon"), "--duration: expected a duration such as 30s, 500ms or 2m, got 'soon'"),
        (RunOverrides(think_time="3s..1s"), "--think-time: expected a range whose low end"),
        (RunOverrides(target="ftp://x"), "--target: expected a ws://, wss://, http:// or https:// URL"),
        (RunOverrides(workers="many"), '--workers: expected a positive integer or "auto"'),
        (RunOverrides(source_addrs="x"), "--source-addrs: expected IP addresses"),
        (RunOverrides(bind="nowhere"), "--bind: expected HOST:PORT"),
        (RunOverrides(headers=("no colon",)), "--header: expected a header such as"),
        (RunOverrides(arrival="bursty"), "--arrival: expected one of closed, constant, poisson"),
        (RunOverrides(master=True), "rtbench master needs --expect-workers N"),
    ],
)
def test_bad_options_are_one_line_naming_the_option(overrides: RunOverrides, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(table(), overrides, "s.toml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_master_binds_to_all_interfaces_unless_told() -> None:
    config = resolve(table(), RunOverrides(master=True, expect_workers=2))
    assert (config.load.expect_workers, config.load.master_bind) == (2, DEFAULT_MASTER_BIND)
    assert resolve(table(), RunOverrides(master=True, expect_workers=2, bind=":6000")).load.master_bind == ":6000"
    assert resolve(table(), RunOverrides(expect_workers=2)).load.master_bind is None


def test_open_loop_is_checked_once_after_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    check = rtbench.scenario.check_open_loop

    def counting(config: RunConfig, where: str) -> None:
        calls.append(where)
        check(config, where)

    monkeypatch.setattr(rtbench.scenario, "check_open_loop", counting)
    constant = table(SCENARIO + "arrival = 'constant'\n")
    config = resolve(constant, RunOverrides(rate=50.0), "s.toml")  # the option completes the scenario
    assert (config.load.arrival, config.load.rate) == ("constant", 50.0) and calls == ["--arrival/--rate"]
    with pytest.raises(ConfigError, match=r"^s.toml: \[load\]: constant arrivals need a rate"):
        resolve(constant, RunOverrides(), "s.toml")
    with pytest.raises(ConfigError, match=r"^--arrival/--rate: poisson arrivals need a rate"):
        resolve(table(), RunOverrides(arrival="poisson"), "s.toml")
    assert len(calls) == 3


SHAPED = (
    SCENARIO
    + """
[shape]
kind = "ramp"
to_users = 6
over = "3s"
hold = "5s"
"""
)


def test_the_shape_is_compiled_once_with_the_final_spawn_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[float] = []
    compile_shape = rtbench.scenario.compile_shape

    def counting(shape: dict[str, Any], spawn_rate: float, parse_duration: Any, where: str = "[shape]") -> Any:
        compiled.append(spawn_rate)
        return compile_shape(shape, spawn_rate, parse_duration, where)

    monkeypatch.setattr(rtbench.scenario, "compile_shape", counting)
    config = resolve(table(SHAPED), RunOverrides(spawn_rate=40.0))
    assert compiled == [40.0]
    assert config.shape.spec is not None and config.shape.spec.stages[-1].spawn_rate == 40.0
    assert (config.load.users, config.load.duration) == (6, 8.0)  # from the shape
    assert config.shape.table == table(SHAPED)["shape"]
    assert resolve(table(SHAPED), RunOverrides(users=2)).load.users == 2  # an option still wins


def test_faults_and_server_flags_are_parsed_once_into_the_config() -> None:
    text = SCENARIO + '[server]\nttft_ms = 20\n[faults]\ndrop_rate = 0.5\nkill_after = "3s"\n'
    config = resolve(table(text), source="s.toml")
    assert config.server.options == {"ttft_ms": 20}
    assert config.server.plan == ServerPlan(("--ttft-ms", "20", "--drop-rate", "0.5"), 3.0, None)
    with pytest.raises(ConfigError, match=r"^s.toml: \[faults\].restart_after: expected kill_after too$"):
        resolve(table(SCENARIO + '[faults]\nrestart_after = "1s"\n'), source="s.toml")
    with pytest.raises(ConfigError, match=r"^s.toml: \[server\].x: unknown reference server option"):
        resolve(table(SCENARIO + "[server]\nx = { a = 1 }\n"), source="s.toml")


def test_given_lists_only_the_options_given() -> None:
    assert RunOverrides().given() == {}
    assert RunOverrides(users=3, insecure=False, headers=("A: b",)).given() == {"users": 3, "insecure": False}
