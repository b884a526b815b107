"""Capacity of the reference server on loopback: memory per idle session, burst frames/s, timing error.

Run: .venv/bin/python benchmarks/server_capacity.py   (about 2 minutes; --help for the knobs)

1. Idle memory: a `--procs 2` server; a client process opens 10,000 WebSocket sessions; the RSS of
   all server processes above the idle baseline, divided by the sessions (goal <= 16 KB).
2. Timing: with those sessions open, 300 prompts/s (fixed 50 ms TTFT, 10 ms ITL, 20 tokens) for a
   while; the p99 of the server's own first-token scheduling error, read from its
   `rtref_send_lateness_seconds` histogram (goal <= 2 ms).
3. Burst: a `--procs 1` server with ttft=0 itl=0; client processes only count frames; frames/s the
   one server process sends (goal >= 100k), with the CPU use of each side to say which saturated.

The clients are raw asyncio / socket WebSocket clients in child processes of this script (roles
`hold` and `burst`), so their cost stays out of the server's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.server import ServerHandle, running_server  # noqa: E402

GOAL_RSS_KB, GOAL_FRAMES, GOAL_P99_MS = 16.0, 100_000, 2.0
LATENESS = "rtref_send_lateness_seconds_bucket"


# -- raw WebSocket client pieces -------------------------------------------------------------


def handshake_request(port: int) -> bytes:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    return (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def text_frame(payload: bytes) -> bytes:
    """A client text frame with a zero mask (valid; XOR with zeros leaves the payload as is)."""
    n = len(payload)
    header = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


def prompt_frame(turn_id: str, max_tokens: int | None = None) -> bytes:
    msg: dict[str, Any] = {"type": "prompt", "id": turn_id, "text": "hello there"}
    if max_tokens:
        msg["max_tokens"] = max_tokens
    return text_frame(json.dumps(msg).encode())


def count_frames(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    """(complete frames from pos, position after them) in server-to-client frames."""
    count, size = 0, len(buf)
    while pos + 2 <= size:
        n, head = buf[pos + 1] & 0x7F, 2
        if n == 126:
            if pos + 4 > size:
                break
            n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
        elif n == 127:
            if pos + 10 > size:
                break
            n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
        if pos + head + n > size:
            break
        pos += head + n
        count += 1
    return count, pos


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- client role `hold`: many idle sessions, then a paced prompt load ------------------------


class Session:
    __slots__ = ("writer", "sent", "ttft")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer, self.sent, self.ttft = writer, 0.0, []


async def _open(port: int, sessions: list[Session], gate: asyncio.Semaphore) -> None:
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake_request(port))
        await reader.readuntil(b"\r\n\r\n")
        session = Session(writer)
        await _read_frame(reader)  # the `session` frame
        sessions.append(session)
    asyncio.ensure_future(_reader(reader, session))


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    return await reader.readexactly(n)


async def _reader(reader: asyncio.StreamReader, session: Session) -> None:
    try:
        while True:
            payload = await _read_frame(reader)
            if session.sent and payload.startswith(b'{"type":"token"'):
                session.ttft.append(time.perf_counter() - session.sent)
                session.sent = 0.0
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


async def hold(port: int, count: int, rate: float, seconds: float) -> None:
    raise_fd_limit()
    sessions: list[Session] = []
    started = time.monotonic()
    gate = asyncio.Semaphore(400)
    await asyncio.gather(*(_open(port, sessions, gate) for _ in range(count)))
    print(json.dumps({"ready": len(sessions), "open_s": round(time.monotonic() - started, 1)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    order = random.Random(1).sample(range(len(sessions)), len(sessions))
    turns = int(rate * seconds)
    start = time.perf_counter()
    for i in range(turns):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        session = sessions[order[i % len(order)]]
        session.sent = time.perf_counter()
        session.writer.write(prompt_frame(f"t{i}"))
    await asyncio.sleep(1.0)  # the last turns finish
    ttft = sorted(t for s in sessions for t in s.ttft)
    print(
        json.dumps(
            {
                "turns": turns,
                "answered": len(ttft),
                "cpu_s": time.process_time(),
                "ttft_p50_ms": 1000 * ttft[len(ttft) // 2] if ttft else None,
                "ttft_p99_ms": 1000 * ttft[int(len(ttft) * 0.99)] if ttft else None,
            }
        ),
        flush=True,
    )


# -- client role `burst`: count frames as fast as they come -----------------------------------


def burst(port: int, conns: int, seconds: float) -> None:
    selector = selectors.DefaultSelector()
    for _ in range(conns):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(handshake_request(port))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        sock.sendall(prompt_frame("burst"))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, [bytearray(head.split(b"\r\n\r\n", 1)[1]), 0])
    frames, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in selector.select(0.1):
            state = key.data
            state[0] += key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            counted, state[1] = count_frames(state[0], state[1])
            frames += counted
            if state[1] > 1 << 20:
                del state[0][: state[1]]
                state[1] = 0
    print(json.dumps({"frames": frames, "seconds": seconds, "cpu_s": time.process_time()}), flush=True)


# -- the benchmark -----------------------------------------------------------------------------


def client(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def server_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its children (the workers)."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children()]
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used (every core)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def process_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def wait_for(server: ServerHandle, key: str, value: float, timeout: float = 30) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        metrics = server.metrics()
        if metrics.get(key, 0) >= value or time.monotonic() > deadline:
            return metrics
        time.sleep(0.5)


def lateness(before: dict[str, float], after: dict[str, float], frame: str) -> tuple[int, dict[float, float]]:
    """Observations in the window, and the cumulative fraction at each bucket bound (seconds)."""
    bounds: dict[float, float] = {}
    for key, value in after.items():
        if key.startswith(LATENESS + "{") and f'frame="{frame}"' in key:
            le = key.split('le="')[1].split('"')[0]
            bounds[float(le)] = value - before.get(key, 0.0)
    total = bounds.get(float("inf"), 0.0)
    return int(total), {b: (c / total if total else 0.0) for b, c in sorted(bounds.items())}


def quantile_bound(cumulative: dict[float, float], q: float) -> float:
    """The smallest bucket bound with at least `q` of the observations at or below it."""
    return next(b for b, fraction in cumulative.items() if fraction >= q)


def idle_and_timing(args: argparse.Namespace) -> dict[str, Any]:
    flags = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20", "--loop", args.loop)
    with running_server(*flags, procs=2) as server:
        time.sleep(1.0)
        baseline = server.metrics()["rtref_resident_memory_bytes"]
        holder = client(
            "--role",
            "hold",
            "--port",
            str(server.port),
            "--sessions",
            str(args.sessions),
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.seconds),
        )
        assert holder.stdout is not None and holder.stdin is not None
        ready = json.loads(holder.stdout.readline())
        time.sleep(2.0)  # housekeeping samples RSS every second
        held = wait_for(server, 'rtref_sessions_open{protocol="native"}', ready["ready"])
        rss_per_session = (held["rtref_resident_memory_bytes"] - baseline) / max(1, ready["ready"])
        before = server.metrics()
        busy0, ours0, t0 = machine_busy(), server_cpu(server.pid) + process_cpu(holder.pid), time.monotonic()
        holder.stdin.write("go\n")
        holder.stdin.flush()
        load = json.loads(holder.stdout.readline())
        busy1, ours1, t1 = machine_busy(), server_cpu(server.pid) + process_cpu(holder.pid), time.monotonic()
        time.sleep(0.6)  # the workers flush their counters every 0.5 s
        after = server.metrics()
        holder.stdin.close()
        holder.wait(timeout=30)
    first_n, first = lateness(before, after, "first")
    next_n, later = lateness(before, after, "next")
    gc_pauses = {
        g: (
            after.get(f'rtref_gc_pause_seconds_count{{generation="{g}"}}', 0)
            - before.get(f'rtref_gc_pause_seconds_count{{generation="{g}"}}', 0),
            after.get(f'rtref_gc_pause_seconds_sum{{generation="{g}"}}', 0)
            - before.get(f'rtref_gc_pause_seconds_sum{{generation="{g}"}}', 0),
        )
        for g in "012"
    }
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (t1 - t0)
    return {
        "gc": gc_pauses,
        "others_cores": others,
        "ours_cores": (ours1 - ours0) / (t1 - t0),
        "sessions": ready["ready"],
        "open_s": ready["open_s"],
        "baseline_mb": baseline / 2**20,
        "rss_kb": rss_per_session / 1024,
        "load": load,
        "first_n": first_n,
        "next_n": next_n,
        "first_p50_ms": 1000 * quantile_bound(first, 0.50),
        "first_p99_ms": 1000 * quantile_bound(first, 0.99),
        "next_p99_ms": 1000 * quantile_bound(later, 0.99),
        "first_within_1ms": first.get(0.001, 0.0),
        "first_cdf": first,
    }


def burst_run(args: argparse.Namespace) -> dict[str, float]:
    flags = ("--ttft-ms", "0", "--itl-ms", "0", "--tokens", "100000000", "--resume-ttl-s", "0", "--loop", args.loop)
    with running_server(*flags, procs=1) as server:
        clients = [
            client(
                "--role",
                "burst",
                "--port",
                str(server.port),
                "--conns",
                str(args.burst_conns),
                "--seconds",
                str(args.burst_seconds + 1.0),
            )
            for _ in range(args.burst_clients)
        ]
        time.sleep(0.5)
        frames0, cpu0, t0 = (
            server.metrics()['rtref_frames_total{protocol="native"}'],
            server_cpu(server.pid),
            time.monotonic(),
        )
        time.sleep(args.burst_seconds)
        frames1, cpu1, t1 = (
            server.metrics()['rtref_frames_total{protocol="native"}'],
            server_cpu(server.pid),
            time.monotonic(),
        )
        reports = [json.loads(c.communicate(timeout=30)[0]) for c in clients]
    window = t1 - t0
    return {
        "frames_s": (frames1 - frames0) / window,
        "server_cpu": (cpu1 - cpu0) / window,
        "client_frames_s": sum(r["frames"] / r["seconds"] for r in reports),
        "client_cpu": sum(r["cpu_s"] for r in reports) / (args.burst_seconds + 1.0),
    }


def verdict(ok: bool, miss: str) -> str:
    return "met" if ok else f"MISSED ({miss})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000, help="idle sessions held (default 10000)")
    parser.add_argument("--rate", type=float, default=300.0, help="prompts/s during the timing phase (default 300)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the timing phase (default 20)")
    parser.add_argument("--burst-runs", type=int, default=3, help="burst runs; the median is reported (default 3)")
    parser.add_argument("--burst-seconds", type=float, default=3.0, help="measured window of a burst run")
    parser.add_argument("--burst-clients", type=int, default=2, help="client processes in a burst run")
    parser.add_argument("--burst-conns", type=int, default=2, help="connections per burst client")
    parser.add_argument("--loop", default="auto", choices=("auto", "uvloop", "asyncio"), help="server event loop")
    parser.add_argument("--role", choices=("hold", "burst"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--conns", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "hold":
        asyncio.run(hold(args.port, args.sessions, args.rate, args.seconds))
        return 0
    if args.role == "burst":
        burst(args.port, args.conns, args.seconds)
        return 0

    started = time.monotonic()
    idle = idle_and_timing(args)
    runs = [burst_run(args) for _ in range(args.burst_runs)]
    frames = statistics.median(r["frames_s"] for r in runs)
    server_cpu_share = statistics.median(r["server_cpu"] for r in runs)
    client_cpu_share = statistics.median(r["client_cpu"] for r in runs)
    shares = f"server {100 * server_cpu_share:.0f} %, clients {100 * client_cpu_share:.0f} % of a core"
    saturated = (
        "the server saturated"
        if server_cpu_share >= 0.9
        else "the clients saturated"
        if client_cpu_share >= 0.9
        else "neither side reached 90 % of a core"
    ) + f" ({shares})"
    load = idle["load"]
    rows = [
        (
            f"RSS per idle session, {idle['sessions']:,} sessions, 2 procs",
            f"{idle['rss_kb']:.1f} KB",
            f"<= {GOAL_RSS_KB:g} KB",
            verdict(idle["rss_kb"] <= GOAL_RSS_KB, f"by {idle['rss_kb'] - GOAL_RSS_KB:.1f} KB"),
        ),
        (
            "burst frames/s, 1 server process (median)",
            f"{frames:,.0f}",
            f">= {GOAL_FRAMES:,}",
            verdict(frames >= GOAL_FRAMES, f"by {GOAL_FRAMES - frames:,.0f}/s"),
        ),
        (
            f"first-token error p99, {idle['sessions']:,} sessions, {args.rate:g}/s",
            f"<= {idle['first_p99_ms']:.2f} ms",
            f"<= {GOAL_P99_MS:g} ms",
            verdict(idle["first_p99_ms"] <= GOAL_P99_MS, "see the histogram"),
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"\nreference server capacity (loop={args.loop}, {os.cpu_count()} cores, {time.monotonic() - started:.0f} s)\n"
    )
    print(f"{'figure':<{width}}  {'measured':>14}  {'goal':>12}  verdict")
    for name, value, goal, result in rows:
        print(f"{name:<{width}}  {value:>14}  {goal:>12}  {result}")
    print(
        f"\nidle: {idle['sessions']} sessions opened in {idle['open_s']} s; baseline RSS of both processes "
        f"{idle['baseline_mb']:.1f} MB"
    )
    print(
        f"timing: {load['turns']} prompts, {load['answered']} first tokens seen by the client; server first-frame "
        f"error p50 <= {idle['first_p50_ms']:.2f} ms, {100 * idle['first_within_1ms']:.1f} % within 1 ms "
        f"(n={idle['first_n']}); later frames p99 <= {idle['next_p99_ms']:.2f} ms (n={idle['next_n']}); "
        f"client-observed TTFT p50 {load['ttft_p50_ms']:.1f} ms, p99 {load['ttft_p99_ms']:.1f} ms; "
        f"client CPU {load['cpu_s']:.1f} s"
    )
    cdf = ", ".join(
        f"<= {1000 * bound:g} ms {100 * idle['first_cdf'][bound]:.1f} %"
        for bound in (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005)
    )
    print(f"  first-frame error distribution: {cdf}")
    print("  (error values are histogram bucket bounds: the true quantile is at or below them)")
    print(
        f"  CPU during the timing phase: server and client {idle['ours_cores']:.2f} cores, other processes on "
        f"this machine {idle['others_cores']:.2f} cores (of {os.cpu_count()})"
    )
    print(
        "  garbage collections during the timing phase (both processes): "
        + ", ".join(
            f"gen{g} {int(n)} x, {1000 * total / n if n else 0:.1f} ms mean" for g, (n, total) in idle["gc"].items()
        )
    )
    for i, r in enumerate(runs, 1):
        print(
            f"burst run {i}: server {r['frames_s']:,.0f} frames/s at {100 * r['server_cpu']:.0f} % of a core; "
            f"clients counted {r['client_frames_s']:,.0f} frames/s using {100 * r['client_cpu']:.0f} % of a core"
        )
    print(f"burst: {saturated}; {args.burst_clients} client processes x {args.burst_conns} connections")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
