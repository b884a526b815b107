"""netem: the spec, the namespace's life cycle, and the ground truth (a known delay on the wire
shifts connect and TTFT by what the round trips predict), measured by real `rtbench run`s.

Needs root, iproute2 and network namespaces (and iptables where the kernel has no netem qdisc);
where they are not allowed the namespace tests skip with netem's one-line reason.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtbench.errors import ConfigError
from rtbench.local_server import LocalServer
from rtbench.netem import NetemSpec, NetemUnavailable, Netns, remove_stale

SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
SCENARIO = """
[scenario]
name = "netem"
[prompts]
texts = ["Tell me about tail latency."]
"""
# Tolerances, from what was measured on this 2-core machine shared with other test runs:
# - the delay line's own cost is ~0.3 ms per delayed packet at p50 (TCP connect over a 20 ms
#   delay: 20.3 ms), and the p50 TTFT of the fixed 50 ms server moves by 1-2 ms between runs:
#   a TTFT/E2E shift within 3 ms of the prediction;
# - connect is two delayed packets plus handshakes that bunch in the one-second ramp, with 20
#   samples per run: within 6 ms;
# - ITL is the gap between frames that are all delayed alike: its p50 shifts by less than 1.5 ms
#   and its p90 by less than 3 ms (frames bunched behind a held packet would add the delay).
TTFT_TOLERANCE_MS = 3.0
#: Millisecond tolerances need a quiet machine: these run alone, after the parallel tests.
pytestmark = pytest.mark.quiet
CONNECT_TOLERANCE_MS = 6.0
ITL_TOLERANCE_MS = 1.5
ITL_P90_TOLERANCE_MS = 3.0


def test_spec_parses_the_cli_form() -> None:
    spec = NetemSpec.parse("delay=20ms, jitter=2ms ,loss=0.5%,direction=both")
    assert spec == NetemSpec(delay_ms=20.0, jitter_ms=2.0, loss_pct=0.5, direction="both")
    assert spec.tc_args() == ["delay", "20ms", "2ms", "loss", "0.5%"]
    assert NetemSpec.parse("delay=0.02s").delay_ms == 20.0
    assert NetemSpec.parse("delay=20ms,jitter=0ms,loss=0%").tc_args() == ["delay", "20ms"]
    assert NetemSpec.parse("").empty and not NetemSpec.parse("loss=1%").empty
    assert str(NetemSpec(20.0)) == "delay 20 ms, jitter 0 ms, loss 0%, server side"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("delay=fast", "--netem delay: expected a duration"),
        ("loss=150%", "--netem loss: expected 0% to 100%"),
        ("direction=up", "--netem direction: expected one of server, client, both"),
        ("rate=1mbit", "--netem: expected key=value with delay, jitter, loss or direction"),
    ],
)
def test_bad_specs_are_one_line_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NetemSpec.parse(text)


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def netns() -> Iterator[Netns]:
    try:
        with Netns() as ns:
            yield ns
    except NetemUnavailable as exc:
        pytest.skip(str(exc))


def test_namespaces_and_veths_come_and_go(netns: Netns) -> None:
    assert {netns.name, netns.wire} <= set(_ip("netns", "list").split())
    assert f"inet {netns.host_addr}/30" in _ip("-4", "addr", "show", "dev", netns.host_if)
    assert f"inet {netns.server_addr}/30" in _ip("-n", netns.name, "-4", "addr", "show", "dev", netns.ns_if)
    assert netns.host_addr.startswith("10.213.") and netns.name.startswith("rtb") and netns.wire.startswith("rtb")
    assert f" dev {netns.host_if} " in _ip("route", "get", netns.server_addr)  # over the wire
    netns.stop()
    assert not {netns.name, netns.wire} & set(_ip("netns", "list").split())
    assert netns.host_if not in _ip("link")
    assert netns.server_addr not in _ip("route")
    netns.stop()  # twice is harmless


def test_a_dead_owners_namespace_is_removed(netns: Netns) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a PID whose process is gone
    stale = f"rtb{child.pid}n0"
    _ip("netns", "add", stale)
    try:
        assert stale in remove_stale()
        assert stale not in _ip("netns", "list") and netns.name in _ip("netns", "list")  # ours stays
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def _run(tmp_path: Path, name: str, target: str) -> dict:
    out = tmp_path / name
    scenario = tmp_path / "netem.toml"
    scenario.write_text(SCENARIO)
    cmd = [
        sys.executable,
        "-m",
        "rtbench.cli",
        "run",
        str(scenario),
        "--target",
        target,
        "--out",
        str(out),
        "--users",
        "20",
        "--spawn-rate",
        "20",
        "--duration",
        "6s",
        "--think-time",
        "300ms..600ms",
        "--seed",
        "1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    metrics["itl_p90"] = {"p50": metrics["itl"]["p90"]}  # compared like the p50s below
    return metrics


def test_delay_shifts_connect_and_ttft_by_the_round_trips(netns: Netns, tmp_path: Path) -> None:
    """20 ms on what the server sends: connect +40 ms (SYN-ACK and the 101 response are delayed),
    TTFT and E2E +20 ms (the first token and the last come down once), ITL +0. 10 ms each way
    delays every round trip by the same 20 ms."""
    with LocalServer(SERVER_FLAGS, host=netns.server_addr, netns=netns.name) as server:
        base = _run(tmp_path, "base", server.ws_url)
        netns.apply(NetemSpec.parse("delay=20ms,jitter=0ms,loss=0%"))
        assert netns.mechanism in ("tc netem", "nfqueue delay line")
        one_way = _run(tmp_path, "one-way", server.ws_url)
        netns.apply(NetemSpec.parse("delay=10ms,direction=both"))
        both = _run(tmp_path, "both-ways", server.ws_url)
    shifts = {
        label: {m: round(run[m]["p50"] - base[m]["p50"], 3) for m in ("connect", "ttft", "e2e", "itl", "itl_p90")}
        for label, run in (("20ms server side", one_way), ("10ms each way", both))
    }
    print("\nbase p50 (ms):", {m: base[m]["p50"] for m in ("connect", "ttft", "e2e", "itl", "itl_p90")})
    print("p50 shifts (ms):", json.dumps(shifts))
    for label, shift in shifts.items():
        assert shift["connect"] == pytest.approx(40.0, abs=CONNECT_TOLERANCE_MS), (label, shift)
        assert shift["ttft"] == pytest.approx(20.0, abs=TTFT_TOLERANCE_MS), (label, shift)
        assert shift["e2e"] == pytest.approx(20.0, abs=TTFT_TOLERANCE_MS), (label, shift)
        assert abs(shift["itl"]) < ITL_TOLERANCE_MS, (label, shift)
        assert abs(shift["itl_p90"]) < ITL_P90_TOLERANCE_MS, (label, shift)


def _connect_ms(host: str, port: int, timeout: float = 5.0) -> float | None:
    """One TCP connect's time in ms, None when it timed out (its SYNs were lost)."""
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return (time.perf_counter() - started) * 1000.0
    except OSError:
        return None


def test_jitter_spreads_and_loss_drops_packets(netns: Netns) -> None:
    """A TCP connect crosses the server's direction once (the SYN-ACK): 20 +- 10 ms of jitter
    spreads it over 10..30 ms; 100% loss on the client's direction drops every SYN."""
    with LocalServer(SERVER_FLAGS, host=netns.server_addr, netns=netns.name) as server:
        netns.apply(NetemSpec.parse("delay=20ms,jitter=10ms"))
        times = [t for _ in range(40) if (t := _connect_ms(server.host, server.port)) is not None]
        netns.apply(NetemSpec.parse("loss=100%,direction=client"))
        lost = _connect_ms(server.host, server.port, timeout=1.0)
        netns.apply(NetemSpec())
        after = _connect_ms(server.host, server.port)
    assert len(times) == 40
    assert 9.5 <= min(times) and max(times) <= 36.0, times  # + scheduling on a shared machine
    assert max(times) - min(times) > 8.0 and 15.0 <= statistics.median(times) <= 25.0, times
    assert lost is None
    assert after is not None and after < 5.0
