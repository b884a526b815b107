"""Scenario files become a validated RunConfig; every bad input is one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.config import RunConfig, parse_duration
from rtbench.errors import ConfigError
from rtbench.scenario import load_scenario
from rtbench.values import parse_header, parse_think_time

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (5, 5.0), (0.25, 0.25), ("7", 7.0)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["abc", "10 parsecs", "-1s", True, ""])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_think_time_range_and_list() -> None:
    think = parse_think_time("1s..3s")
    assert (think.low, think.high, think.mean) == (1.0, 3.0, 2.0)
    assert parse_think_time(["500ms", "1s"]).high == 1.0
    with pytest.raises(ValueError):
        parse_think_time("3s..1s")


def test_shipped_scenarios_load() -> None:
    chat = load_scenario(ROOT / "scenarios" / "chat.toml")
    assert chat.scenario == "chat" and chat.target.protocol == "native" and chat.load.users > 0
    capacity = load_scenario(ROOT / "scenarios" / "capacity-10k.toml")
    assert capacity.load.users == 10_000
    assert capacity.load.think_time.low == 25.0 and capacity.load.think_time.high == 35.0
    assert capacity.slo["ttft"] == ["p95 < 100ms"]


def test_full_scenario(tmp_path: Path) -> None:
    config = load_scenario(
        write(
            tmp_path,
            """
[scenario]
name = "x"
seed = 7
[target]
url = "ws://127.0.0.1:9/ws"
headers = { Authorization = "Bearer abc" }
turn_timeout = "5s"
[load]
users = 3
spawn_rate = 1.5
duration = "1m"
think_time = "2s"
pacing = true
[prompts]
texts = ["a", "b"]
max_tokens = 8
[personas]
mix = { default = 1, pirate = 3 }
switch_probability = 0.25
""",
        )
    )
    assert config.scenario == "x" and config.seed == 7
    assert config.load.duration == 60.0 and config.target.turn_timeout == 5.0
    assert config.load.think_time.pacing and config.load.think_time.low == 2.0
    assert config.prompts.texts == ("a", "b") and config.prompts.max_tokens == 8
    assert config.conversation.personas == (("default", 1.0), ("pirate", 3.0))
    assert config.target.headers == (("Authorization", "Bearer abc"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[load]\nusers = 0\n", "[load].users: expected a positive integer, got 0"),
        ("[load]\nusers = 'many'\n", "[load].users: expected a positive integer, got 'many'"),
        ("[load]\nduration = 'soon'\n", "[load].duration: expected a duration"),
        ("[load]\nthink_time = '3s..1s'\n", "[load].think_time: expected a range"),
        ("[target]\nurl = 'ftp://x'\n", "[target].url: expected a ws://"),
        ("[load]\nuser = 3\n", "[load].user: unknown key"),
        ("[personas]\nswitch_probability = 2\n", "expected a number from 0 to 1"),
        ("load = 3\n", "[load]: expected a table"),
        ("[load\n", "invalid TOML"),
        ("[target]\nheaders = { A = '${RTBENCH_SURELY_UNSET}' }\n", "RTBENCH_SURELY_UNSET is not set"),
        ("[target]\nca_file = '/nonexistent/ca.pem'\n", "[target].ca_file: expected the path of an existing file"),
        ("[target]\nidle_timeout = 'soon'\n", "[target].idle_timeout: expected a duration"),
        ("adapter = 3\n", "[adapter]: expected a table"),
    ],
)
def test_bad_scenarios_give_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_connection_options_and_adapter_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTBENCH_TEST_KEY", "s3cret")
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    path = write(
        tmp_path,
        f"""
[target]
url = "https://127.0.0.1:9/v1/chat/completions"
protocol = "openai-chat"
first_token_timeout = "2s"
idle_timeout = "500ms"
ca_file = "{ca}"
insecure = true
headers = {{ X-Team = "blue", X-Auth = "Key ${{RTBENCH_TEST_KEY}}" }}
[adapter]
model = "m"
extra = {{ temperature = 0 }}
""",
    )
    config = load_scenario(path)
    assert config.target.first_token_timeout == 2.0 and config.target.idle_timeout == 0.5
    assert config.target.ca_file == str(ca) and config.target.insecure is True
    assert dict(config.target.headers) == {"X-Team": "blue", "X-Auth": "Key s3cret"}
    assert config.target.secret_headers == ("X-Auth",)
    assert config.target.adapter_options == {"model": "m", "extra": {"temperature": 0}}
    assert RunConfig.from_dict(config.to_dict()) == config


def test_parse_header() -> None:
    assert parse_header("Authorization: Bearer x:y") == ("Authorization", "Bearer x:y")
    for bad in ("no colon", ": empty", "two words: v"):
        with pytest.raises(ValueError):
            parse_header(bad)


def test_workers_auto_and_source_addrs(tmp_path: Path) -> None:
    path = write(tmp_path, "[load]\nworkers = 'auto'\nsource_addrs = '127.0.0.2-127.0.0.3'\n")
    config = load_scenario(path)
    assert config.load.workers == 0 and config.load.source_addrs == ("127.0.0.2", "127.0.0.3")
    with pytest.raises(ConfigError, match=r'\[load\].workers: expected a positive integer or "auto"'):
        load_scenario(write(tmp_path, "[load]\nworkers = 'many'\n"))


def test_recovery_table(tmp_path: Path) -> None:
    assert RunConfig().recovery.enabled is True  # reconnect and resume unless told otherwise
    config = load_scenario(
        write(
            tmp_path,
            """
[recovery]
enabled = false
backoff_initial = "50ms"
backoff_max = "2s"
backoff_multiplier = 1.5
jitter = 0.5
max_retries = 4
""",
        )
    )
    assert (config.recovery.enabled, config.recovery.backoff_initial, config.recovery.backoff_max) == (False, 0.05, 2.0)
    assert (config.recovery.backoff_multiplier, config.recovery.jitter, config.recovery.max_retries) == (1.5, 0.5, 4)
    assert RunConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[recovery]\nbackoff_multiplier = 0.5\n", "[recovery].backoff_multiplier: expected a number of at least 1"),
        ("[recovery]\njitter = 2\n", "[recovery].jitter: expected a number from 0 to 1"),
        ("[recovery]\nmax_retries = 0\n", "[recovery].max_retries: expected a positive integer"),
        ("[recovery]\nenabled = 'yes'\n", "[recovery].enabled: expected true or false"),
        ("[recovery]\nbackoff = '1s'\n", "[recovery].backoff: unknown key"),
    ],
)
def test_bad_recovery_keys_give_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(write(tmp_path, text))


def test_open_loop_settings(tmp_path: Path) -> None:
    config = load_scenario(write(tmp_path, "[load]\narrival = 'poisson'\nrate = 50\nmax_in_flight = 20\n"))
    assert (config.load.arrival, config.load.rate, config.load.max_in_flight) == ("poisson", 50.0, 20)
    for text, message in (
        ("[load]\narrival = 'constant'\n", "constant arrivals need a rate"),
        ("[load]\nrate = 5\n", "needs open-loop arrivals"),
        ("[load]\narrival = 'bursty'\n", r"\[load\].arrival: expected one of closed, constant, poisson"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_scenario(write(tmp_path, text))
