"""The value parsers shared by scenario tables and options: what each accepts, and the one-line
reason for what it refuses (ValueError's text completes "expected ...")."""

from __future__ import annotations

import pytest

from rtbench.config import ThinkTime
from rtbench.errors import ConfigError
from rtbench.values import (
    expand_headers,
    parse_header,
    parse_host_port,
    parse_source_addrs,
    parse_think_time,
    parse_workers,
    positive_int,
    validate_target,
)


def test_think_time_is_a_duration_or_a_range() -> None:
    assert parse_think_time("2s") == ThinkTime(2.0, 2.0)
    assert parse_think_time("1s..3s", pacing=True) == ThinkTime(1.0, 3.0, True)
    assert parse_think_time(["500ms", "1s"]) == ThinkTime(0.5, 1.0)
    with pytest.raises(ValueError, match="low end"):
        parse_think_time("3s..1s")


@pytest.mark.parametrize("url", ["ws://h/ws", "wss://h:1/x", "http://127.0.0.1:8/v1", "https://[::1]/v1"])
def test_targets_need_a_known_scheme_and_a_host(url: str) -> None:
    assert validate_target(url) == url


@pytest.mark.parametrize("url", ["ftp://h/x", "ws:///nohost", "localhost:8765"])
def test_other_targets_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="ws://"):
        validate_target(url)


def test_integers_are_not_booleans() -> None:
    assert positive_int(3) == 3
    for bad in (0, -1, True, 2.5, "3"):
        with pytest.raises(ValueError, match="a positive integer"):
            positive_int(bad)


def test_workers_take_a_count_or_auto() -> None:
    assert (parse_workers("auto"), parse_workers("4"), parse_workers(2)) == (0, 4, 2)
    with pytest.raises(ValueError, match='"auto"'):
        parse_workers("0")


def test_host_port_and_headers() -> None:
    assert parse_host_port(":5557") == ("127.0.0.1", 5557)
    assert parse_host_port("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port("host:99999")
    assert parse_header("Authorization:  Bearer x ") == ("Authorization", "Bearer x")
    with pytest.raises(ValueError, match="a header"):
        parse_header("Bad Name: v")


def test_source_addresses_from_ranges_and_lists() -> None:
    assert parse_source_addrs("127.0.0.2-127.0.0.4,127.0.0.3,127.0.0.9") == (
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.9",
    )
    with pytest.raises(ValueError, match="first address is not after its last"):
        parse_source_addrs("127.0.0.9-127.0.0.2")


def test_headers_read_the_environment_and_are_marked_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTBENCH_TEST_KEY", "k3y")
    headers, secret = expand_headers((("X-Key", "Bearer ${RTBENCH_TEST_KEY}"), ("X-Team", "blue")), "--header")
    assert headers == (("X-Key", "Bearer k3y"), ("X-Team", "blue")) and secret == ("X-Key",)
    monkeypatch.delenv("RTBENCH_TEST_KEY")
    with pytest.raises(ConfigError, match=r"^--header: environment variable RTBENCH_TEST_KEY is not set$"):
        expand_headers((("X-Key", "${RTBENCH_TEST_KEY}"),), "--header")
