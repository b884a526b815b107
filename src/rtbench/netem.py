"""Network faults for runs against the local reference server: network namespaces of rtbench's
own, joined to this one by veth pairs, with netem delay, jitter and loss on the wire.

    with Netns(NetemSpec.parse("delay=20ms,jitter=0ms,loss=0%")) as ns:
        with LocalServer(flags, host=ns.server_addr, netns=ns.name) as server:
            ...                                   # connect to server.ws_url, over the wire

Topology (all names begin with `rtb<pid>`, all addresses are ours, in 10.213.0.0/16):

    this namespace            wire namespace rtb<pid>w<i>          server namespace rtb<pid>n<i>
    rtb<pid>h<i> A.1/30 <-> rtb<pid>a<i> A.2/30 | rtb<pid>b<i> B.1/30 <-> rtb<pid>s<i> B.2/30

The wire namespace forwards between the two pairs and carries the faults on its two egress
devices: `a` for what the server sends, `b` for what the client sends. A packet reaches the
wire only after it left the sending socket, as on a real network; a delay applied inside the
server's own namespace would hold packets the server's TCP still counts as queued (TCP small
queues), and the stream's frames would bunch up behind them.

Direction: `direction=server` (the default) delays what the server sends to the client;
`client` what the client sends; `both` delays each direction by the full amount (the round trip
grows by 2 x delay). Each round trip crosses the delayed direction once: with
`delay=20ms,direction=server`, connect (TCP handshake + WebSocket upgrade, two round trips) grows
by 40 ms and TTFT (prompt up, first token down) by 20 ms; `delay=10ms,direction=both` does the same.

The faults are `tc qdisc add dev DEV root netem delay D jitter J loss L`. On a kernel built
without the netem qdisc, the same delay, jitter and loss are applied to the same packets by an
NFQUEUE delay line in the wire namespace (`rtbench.netem_queue`, iptables rules on its devices).
Needs root, `ip` and `tc` (iproute2), and `iptables` for the fallback; without them
`NetemUnavailable` says so in one line.

Everything is removed on exit, Ctrl-C or an exception (context manager) and at interpreter exit
(atexit); namespaces whose owning rtbench process died (SIGKILL) are removed by the next Netns.
Only namespaces named `rtb<pid>n<i>` or `rtb<pid>w<i>` are ever touched.
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from types import TracebackType

from rtbench.errors import ConfigError, RtbenchError

__all__ = ["NetemSpec", "Netns", "NetemUnavailable", "DIRECTIONS"]

DIRECTIONS = ("server", "client", "both")
SUBNET = ipaddress.IPv4Network("10.213.0.0/16")
QUEUE_NUM = 0
COMMAND_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 10.0
_OWN_NAME = re.compile(r"^rtb(\d+)[nw](\d+)$")
_SPEC_ITEM = re.compile(r"^\s*(delay|jitter|loss|direction)\s*=\s*(\S+?)\s*$")
_MS = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s)?$")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, None: 1.0}
_counter = itertools.count()


class NetemUnavailable(RtbenchError):
    """Namespaces or netem cannot be set up here (not root, no iproute2, not allowed)."""


def _ms(key: str, text: str) -> float:
    match = _MS.match(text)
    if not match:
        raise ConfigError(f"--netem {key}: expected a duration such as 20ms, got {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True)
class NetemSpec:
    """One-way delay and jitter (ms), loss (percent) and the direction they apply to."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    direction: str = "server"

    @classmethod
    def parse(cls, text: str) -> NetemSpec:
        """From "delay=20ms,jitter=2ms,loss=0.1%,direction=server" (any subset, any order)."""
        values: dict[str, object] = {}
        for item in filter(str.strip, text.split(",")):
            match = _SPEC_ITEM.match(item)
            if not match:
                raise ConfigError(f"--netem: expected key=value with delay, jitter, loss or direction, got {item!r}")
            key, value = match.groups()
            if key in ("delay", "jitter"):
                values[f"{key}_ms"] = _ms(key, value)
            elif key == "loss":
                try:
                    values["loss_pct"] = float(value.rstrip("%"))
                except ValueError:
                    raise ConfigError(f"--netem loss: expected a percentage such as 1%, got {value!r}") from None
            else:
                values["direction"] = value
        spec = cls(**values)  # type: ignore[arg-type]
        if spec.direction not in DIRECTIONS:
            raise ConfigError(f"--netem direction: expected one of {', '.join(DIRECTIONS)}, got {spec.direction!r}")
        if not 0.0 <= spec.loss_pct <= 100.0:
            raise ConfigError(f"--netem loss: expected 0% to 100%, got {spec.loss_pct:g}%")
        return spec

    @property
    def empty(self) -> bool:
        return not (self.delay_ms or self.jitter_ms or self.loss_pct)

    def tc_args(self) -> list[str]:
        """The netem qdisc's parameters, as `tc qdisc add ... netem` takes them."""
        args = ["delay", f"{self.delay_ms:g}ms"]
        if self.jitter_ms:
            args.append(f"{self.jitter_ms:g}ms")
        return args + (["loss", f"{self.loss_pct:g}%"] if self.loss_pct else [])

    def __str__(self) -> str:
        return (
            f"delay {self.delay_ms:g} ms, jitter {self.jitter_ms:g} ms, loss {self.loss_pct:g}%, {self.direction} side"
        )


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)


def _must(*cmd: str) -> None:
    done = _run(*cmd)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise NetemUnavailable(f"netem: `{' '.join(cmd)}` failed: {reason[-1] if reason else done.returncode}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    done = _run("ip", "netns", "list")
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _remove_namespace(name: str) -> None:
    """Kill what runs in namespace `name` (ours: rtbench started it), then delete it."""
    for pid in _run("ip", "netns", "pids", name).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _run("ip", "netns", "del", name)


def remove_stale() -> list[str]:
    """Delete our namespaces whose owning process is gone (it was killed); return their names."""
    stale = [n for n in _namespaces() if (m := _OWN_NAME.match(n)) and not _alive(int(m.group(1)))]
    for name in stale:
        _remove_namespace(name)
    return stale


def _free_subnet(seed: int) -> ipaddress.IPv4Network:
    """A /29 of 10.213.0.0/16 that no address of this namespace is in, tried from `seed` on."""
    used = {
        ipaddress.IPv4Interface(word).network
        for line in _run("ip", "-4", "-o", "addr").stdout.splitlines()
        for word in line.split()
        if "/" in word and word.startswith("10.213.")
    }
    subnets = list(SUBNET.subnets(new_prefix=29))
    for step in range(len(subnets)):
        candidate = subnets[(seed + step) % len(subnets)]
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise NetemUnavailable("netem: no free /29 left in 10.213.0.0/16")


class Netns:
    """The server's namespace, the wire's, their veth pairs and the faults (see the module)."""

    def __init__(self, spec: NetemSpec | None = None) -> None:
        index = next(_counter)
        prefix = f"rtb{os.getpid()}"
        self.name, self.wire = f"{prefix}n{index}", f"{prefix}w{index}"
        self.host_if, self.wire_host_if = f"{prefix}h{index}", f"{prefix}a{index}"
        self.wire_server_if, self.ns_if = f"{prefix}b{index}", f"{prefix}s{index}"
        self._seed = os.getpid() * 4 + index
        self.host_addr = self.server_addr = ""
        self.spec = spec or NetemSpec()
        self.mechanism = "none"
        self._queue: subprocess.Popen[str] | None = None
        self._created: list[str] = []

    def __enter__(self) -> Netns:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Netns:
        """Create the namespaces and veth pairs, address and route them, and apply the spec."""
        if os.geteuid() != 0:
            raise NetemUnavailable("netem: needs root (network namespaces and tc)")
        missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
        if missing:
            raise NetemUnavailable(f"netem: {' and '.join(missing)} not found: install iproute2")
        remove_stale()
        atexit.register(self.stop)
        try:
            for name in (self.wire, self.name):
                _must("ip", "netns", "add", name)
                self._created.append(name)
            self._wire()
            self.apply(self.spec)
        except BaseException:
            self.stop()
            raise
        return self

    def _wire(self) -> None:
        host_side, server_side = _free_subnet(self._seed).subnets(new_prefix=30)
        host, wire_host = list(host_side.hosts())
        wire_server, server = list(server_side.hosts())
        self.host_addr, self.server_addr = str(host), str(server)
        wire, ns = ("ip", "-n", self.wire), ("ip", "-n", self.name)
        _must("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.wire_host_if, "netns", self.wire)
        _must(*wire, "link", "add", self.wire_server_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name)
        for cmd, device, address in (
            (("ip",), self.host_if, host),
            (wire, self.wire_host_if, wire_host),
            (wire, self.wire_server_if, wire_server),
            (ns, self.ns_if, server),
        ):
            _must(*cmd, "addr", "add", f"{address}/30", "dev", device)
            _must(*cmd, "link", "set", device, "up")
        _must(*ns, "link", "set", "lo", "up")
        _must("ip", "netns", "exec", self.wire, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        _must("ip", "route", "add", str(server_side), "via", str(wire_host), "dev", self.host_if)
        _must(*ns, "route", "add", "default", "via", str(wire_server), "dev", self.ns_if)

    def _devices(self, spec: NetemSpec) -> list[str]:
        """The wire's egress devices that carry `spec`'s direction."""
        return {
            "server": [self.wire_host_if],
            "client": [self.wire_server_if],
            "both": [self.wire_host_if, self.wire_server_if],
        }[spec.direction]

    def apply(self, spec: NetemSpec) -> None:
        """Replace the faults on the wire with `spec` (an empty spec removes them)."""
        self._clear()
        self.spec = spec
        if spec.empty:
            return
        in_wire = ("ip", "netns", "exec", self.wire)
        failures = [
            done
            for dev in self._devices(spec)
            if (done := _run(*in_wire, "tc", "qdisc", "add", "dev", dev, "root", "netem", *spec.tc_args())).returncode
        ]
        if not failures:
            self.mechanism = "tc netem"
            return
        self._clear()
        if "unknown" not in failures[0].stderr.lower():  # not "Specified qdisc kind is unknown"
            raise NetemUnavailable(f"netem: tc qdisc add failed: {failures[0].stderr.strip()}")
        self._start_delay_line(spec)

    def _start_delay_line(self, spec: NetemSpec) -> None:
        """The NFQUEUE fallback: a delay line process in the wire namespace, then iptables rules."""
        if shutil.which("iptables") is None:
            raise NetemUnavailable("netem: this kernel has no netem qdisc and iptables (the fallback) is not installed")
        cmd = [
            "ip",
            "netns",
            "exec",
            self.wire,
            sys.executable,
            "-m",
            "rtbench.netem_queue",
            "--queue",
            str(QUEUE_NUM),
            "--delay-ms",
            str(spec.delay_ms),
            "--jitter-ms",
            str(spec.jitter_ms),
            "--loss",
            str(spec.loss_pct / 100.0),
        ]
        self._queue = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert self._queue.stdout is not None
        ready = self._queue.stdout.readline().strip()  # "ready", or its error, or "" if it died
        if ready != "ready":
            self._stop_delay_line()
            raise NetemUnavailable(f"netem: the NFQUEUE delay line did not start: {ready or 'it exited'}")
        for device in self._devices(spec):
            _must(
                "ip",
                "netns",
                "exec",
                self.wire,
                "iptables",
                "-t",
                "mangle",
                "-A",
                "POSTROUTING",
                "-o",
                device,
                "-j",
                "NFQUEUE",
                "--queue-num",
                str(QUEUE_NUM),
            )
        self.mechanism = "nfqueue delay line"

    def _stop_delay_line(self) -> None:
        proc, self._queue = self._queue, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=COMMAND_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def _clear(self) -> None:
        """Remove qdiscs, rules and the delay line (rules first: held packets then go out)."""
        if self.wire not in self._created:
            return
        in_wire = ("ip", "netns", "exec", self.wire)
        for device in (self.wire_host_if, self.wire_server_if):
            _run(*in_wire, "tc", "qdisc", "del", "dev", device, "root")
        if self._queue is not None:
            _run(*in_wire, "iptables", "-t", "mangle", "-F")
            self._stop_delay_line()
        self.mechanism = "none"

    def stop(self) -> None:
        """Tear everything down (idempotent): faults, processes left inside, veths, namespaces."""
        created, self._created = self._created, []
        if not created:
            return
        atexit.unregister(self.stop)
        self._stop_delay_line()
        for name in reversed(created):
            _remove_namespace(name)  # its veth ends go with it, and so their peers and our route
        _run("ip", "link", "del", self.host_if)
