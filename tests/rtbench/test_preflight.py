from __future__ import annotations

import pytest

from rtbench.errors import ConfigError
from rtbench.preflight import (
    CLIENT_BYTES_PER_SESSION,
    Limits,
    check_source_addrs,
    machine_limits,
    plan,
)
from rtbench.values import parse_source_addrs

HERE = Limits(open_files=20_000, ephemeral_ports=28_232, available_bytes=20 * 2**30)


def test_parse_source_addrs() -> None:
    assert parse_source_addrs("127.0.0.2-127.0.0.4") == ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    assert parse_source_addrs("127.0.0.9, 127.0.0.2-127.0.0.3,127.0.0.9") == ("127.0.0.9", "127.0.0.2", "127.0.0.3")
    assert parse_source_addrs("::1") == ("::1",)
    for bad in ("x", "127.0.0.5-127.0.0.2", "127.0.0.1-::1", "10.0.0.0-10.1.0.0"):
        with pytest.raises(ValueError):
            parse_source_addrs(bad)


def test_auto_workers_follow_the_open_file_limit() -> None:
    assert plan(1_000, None, (), HERE).workers == 1
    assert plan(19_800, None, (), HERE).workers == 1
    assert plan(19_801, None, (), HERE).workers == 2
    assert plan(50_000, None, ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"), HERE).workers == 3


def test_too_few_workers_is_one_line_with_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        plan(50_000, 2, tuple(f"127.0.0.{i}" for i in range(2, 10)), HERE)
    message = str(info.value)
    assert "need 3 load processes" in message and "--workers 3" in message and "\n" not in message


def test_ports_of_one_source_address() -> None:
    warned = plan(15_000, None, (), HERE)
    assert warned.warnings and "over half" in warned.warnings[0]
    assert plan(15_000, None, ("127.0.0.2", "127.0.0.3"), HERE).warnings == ()
    with pytest.raises(ConfigError, match=r"--source-addrs over 3 or more"):
        plan(30_000, None, (), HERE)


def test_memory() -> None:
    small = Limits(open_files=1 << 20, ephemeral_ports=1 << 20, available_bytes=100 * CLIENT_BYTES_PER_SESSION)
    assert plan(100, None, (), small).workers == 1
    with pytest.raises(ConfigError, match="GiB of client memory"):
        plan(101, None, (), small)


def test_machine_limits_and_source_addresses_of_this_machine() -> None:
    limits = machine_limits()
    assert limits.open_files > 0 and limits.ephemeral_ports > 1000 and limits.available_bytes > 0
    check_source_addrs(("127.0.0.1", "127.0.0.3"))
    with pytest.raises(ConfigError, match="cannot send from 192.0.2.1"):
        check_source_addrs(("192.0.2.1",))
