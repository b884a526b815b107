"""Client CPU per received frame of the native protocol, stage by stage, before and after.

Run: .venv/bin/python benchmarks/frame_path.py      (about 3 minutes on 2 cores; --help for knobs)

All figures are process CPU time (`time.process_time`) per frame, the median of --runs runs, so
other processes on a shared machine slow a run down without adding to its figure (their CPU is
shown anyway). "before" is the receive path as it was up to commit 2cb5d50, kept here as the
baseline: websocket-client's `recv_data` per frame, the adapter parsing with the standard
library's json, histograms recording through hdrh's `record_value`. "after" is the code as it is.

1. Stages, offline: the frames of a real 20-token response from the reference server, framed as
   it frames them, replayed through each stage with the bytes at hand (no system calls):
   parsing (websocket-client's `recv_data` reading a socket double that holds the bytes, against
   `FrameReader.feed` of one frame's bytes, as when each frame arrives alone), UTF-8 decoding,
   `NativeAdapter.receive`, the user's per-frame work (`ChatUser._dispatch`: `TurnTimer.on_content`
   and its bookkeeping) and `Recorder.record_turn` (its share per frame).
2. End to end, live: --sessions sessions on one reference server process (TTFT 0, ITL --itl-ms,
   20 tokens: 21 frames a turn), each running --turns closed-loop turns. The frame handler goes
   three depths: the transport alone (the handler only spots the done frame), + the adapter,
   + turn timing and recording, as `ChatUser` does them. Before and after run interleaved within
   each run. This includes what the offline part cannot see: the system calls and the greenlet
   switches of gevent's hub, and the prompt sent per turn (a 21st of it per frame).
3. permessage-deflate, offline: the frames of stage 1, plain against compressed as the reference
   server's --deflate compresses them, received through FrameReader (with an Inflater), and the
   prompt sent plain against deflated (frame_path_deflate.py); with the wire bytes they take.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import gevent
import gevent.event
import psutil
from websocket import ABNF, WebSocket

from rtbench.local_server import LocalServer
from rtbench.metrics.recorder import Recorder
from rtbench.protocols.events import Done, SessionReady, Token
from rtbench.protocols.native import NativeAdapter
from rtbench.transports.base import CallbackListener, ConnectOptions
from rtbench.transports.websocket import WebSocketTransport
from rtbench.transports.ws_frames import FrameReader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frame_path_baseline import BeforeAdapter, BeforeTransport, Turn, dispatch, histograms  # noqa: E402
from frame_path_deflate import deflate_rows  # noqa: E402

FRAMES_PER_TURN = 21
GC_THRESHOLDS = (50_000, 20, 100)  # as the load processes run (load/environment.py)


# -- 1. stages, offline ------------------------------------------------------------------------


class _HeldBytes:
    """A socket double for websocket-client: `recv(n)` returns the next n bytes held."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def gettimeout(self) -> None:
        return None

    def recv(self, size: int) -> bytes:
        start = self.pos
        self.pos += size
        return self.data[start : self.pos]


def cpu_us_per_frame(work: Callable[[], int], runs: int) -> float:
    """The median over `runs` of process CPU per frame of `work()` (which returns its frames)."""
    samples = []
    for _ in range(runs):
        start = time.process_time()
        frames = work()
        samples.append((time.process_time() - start) / frames * 1e6)
    return statistics.median(samples)


def stage_rows(texts: list[str], turns: int, runs: int) -> list[tuple[str, float, float]]:
    """(stage, before µs/frame, after µs/frame) for the frames `texts` of one turn."""
    wire = [ABNF(1, 0, 0, 0, ABNF.OPCODE_TEXT, 0, text.encode()).format() for text in texts]
    stream, payloads, n = b"".join(wire), [text.encode() for text in texts], turns * len(texts)

    def parse_before() -> int:
        for _ in range(turns):
            ws = WebSocket(skip_utf8_validation=True)
            ws.sock, ws.connected = _HeldBytes(stream), True  # type: ignore[assignment]
            for _ in wire:
                ws.recv_data()
        return n

    def parse_after() -> int:
        for _ in range(turns):
            feed = FrameReader().feed
            for data in wire:
                feed(data)
        return n

    def decode() -> int:
        for _ in range(turns):
            for payload in payloads:
                payload.decode()
        return n

    def adapter(cls: type[NativeAdapter]) -> Callable[[], int]:
        def work() -> int:
            for _ in range(turns):
                receive = cls().receive
                for text in texts:
                    receive(text)
            return n

        return work

    events = [NativeAdapter().receive(text) for text in texts]
    turn_id = next(e.turn_id for batch in events for e in batch if type(e) is Token)

    def user_dispatch() -> int:
        for t in range(turns):
            turn = Turn(turn_id, float(t))
            for i, batch in enumerate(events):
                dispatch(turn, batch, t + 0.001 * (i + 1))
        return n

    results = []
    for t in range(turns):
        turn = Turn(turn_id, float(t))
        for i, batch in enumerate(events):
            dispatch(turn, batch, t + 0.05 + 0.01 * i)
        results.append(turn.result)

    def record(before: bool) -> Callable[[], int]:
        def work() -> int:
            recorder = Recorder()
            with histograms(before):
                for result in results:
                    recorder.record_turn(result)  # type: ignore[arg-type]
            return n

        return work

    parse = (cpu_us_per_frame(parse_before, runs), cpu_us_per_frame(parse_after, runs))
    text = cpu_us_per_frame(decode, runs)
    adapt = (cpu_us_per_frame(adapter(BeforeAdapter), runs), cpu_us_per_frame(adapter(NativeAdapter), runs))
    user = cpu_us_per_frame(user_dispatch, runs)
    rec = (cpu_us_per_frame(record(True), runs), cpu_us_per_frame(record(False), runs))
    return [
        ("parse frames (websocket-client recv_data | FrameReader, which decodes text too)", *parse),
        ("decode UTF-8 text (after: inside FrameReader)", text, 0.0),
        ("NativeAdapter.receive (json | orjson + token path)", *adapt),
        ("user dispatch + TurnTimer.on_content/finish", user, user),
        ("Recorder.record_turn, per frame (hdrh record_value | own)", *rec),
    ]


def capture_turn(url: str) -> list[str]:
    """The text frames of one turn of a real session, from the server."""
    texts: list[str] = []
    done = gevent.event.Event()

    def on_frame(frame: str | bytes, _: float) -> None:
        if '"type":"session"' not in frame:
            texts.append(str(frame))
        if '"type":"done"' in frame:
            done.set()

    transport = WebSocketTransport(url, ConnectOptions(), CallbackListener(on_frame, lambda _: done.set()))
    transport.connect()
    transport.send(NativeAdapter().prompt("u123-45", "how long is a piece of string")[0])
    done.wait(10)
    transport.close()
    if len(texts) != FRAMES_PER_TURN:
        raise SystemExit(f"expected {FRAMES_PER_TURN} frames of a turn, got {len(texts)}")
    return texts


# -- 2. end to end, live -----------------------------------------------------------------------

DEPTHS = ("transport", "+ adapter", "+ timing, recording")


class LiveSession:
    """One connection whose frame handler goes to `depth`; `turns` closed-loop turns."""

    def __init__(
        self,
        url: str,
        number: int,
        transport_cls: type[WebSocketTransport],
        adapter_cls: type[NativeAdapter],
        depth: str,
        recorder: Recorder,
        counter: list[int],
    ) -> None:
        self.number, self.depth, self.recorder, self.counter = number, depth, recorder, counter
        self.adapter = adapter_cls()
        self.turn: Turn | None = None
        self.ended = gevent.event.Event()
        self.ready = gevent.event.Event()
        self.lost: str | None = None
        handler = self._on_frame_bare if depth == DEPTHS[0] else self._on_frame
        self.transport = transport_cls(url, ConnectOptions(), CallbackListener(handler, self._on_close))

    def _on_close(self, reason: str) -> None:
        self.lost = reason
        self.ended.set()
        self.ready.set()

    def _on_frame_bare(self, frame: str | bytes, _: float) -> None:
        self.counter[0] += 1
        if '"done"' in frame[:16]:
            self.ended.set()
        elif '"session"' in frame[:20]:
            self.ready.set()

    def _on_frame(self, frame: str | bytes, received_at: float) -> None:
        self.counter[0] += 1
        events = self.adapter.receive(frame)
        if self.depth == DEPTHS[1]:
            for event in events:
                if type(event) is Done:
                    self.ended.set()
                elif type(event) is SessionReady:
                    self.ready.set()
        elif dispatch(self.turn, events, received_at):
            self.ended.set()
        elif events and type(events[0]) is SessionReady:
            self.ready.set()

    def run(self, turns: int, go: gevent.event.Event) -> None:
        go.wait()
        for k in range(turns):
            turn_id = f"u{self.number}-{k}"
            message = self.adapter.prompt(turn_id, "how long is a piece of string")[0]
            self.ended.clear()
            self.turn = Turn(turn_id, time.perf_counter())
            self.transport.send(message)
            if not self.ended.wait(30) or self.lost:
                raise SystemExit(f"turn {turn_id} did not end: {self.lost or 'timeout'}")
            if self.turn.result is not None:
                self.recorder.record_turn(self.turn.result)


def live_run(
    url: str,
    transport_cls: type[WebSocketTransport],
    adapter_cls: type[NativeAdapter],
    depth: str,
    sessions: int,
    turns: int,
    server: psutil.Process,
) -> tuple[float, float]:
    """(µs of process CPU per frame, other processes' CPU in % of one core) of one run."""
    recorder, counter = Recorder(), [0]
    users = [LiveSession(url, i, transport_cls, adapter_cls, depth, recorder, counter) for i in range(sessions)]
    for user in users:
        user.transport.connect()
    for user in users:
        if not user.ready.wait(10) or user.lost:
            raise SystemExit(f"session {user.number} not ready: {user.lost}")
    go = gevent.event.Event()
    greenlets = [gevent.spawn(user.run, turns, go) for user in users]
    gc.collect()
    gc.freeze()
    frames0, cpu0, wall0 = counter[0], time.process_time(), time.perf_counter()
    machine0, server0 = psutil.cpu_times(), server.cpu_times()
    go.set()
    gevent.joinall(greenlets, raise_error=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    machine1, server1 = psutil.cpu_times(), server.cpu_times()
    frames = counter[0] - frames0
    gc.unfreeze()
    for user in users:
        user.transport.close()
    busy = sum(machine1) - machine1.idle - machine1.iowait - (sum(machine0) - machine0.idle - machine0.iowait)
    server_cpu = server1.user + server1.system - server0.user - server0.system
    others = max(0.0, busy - cpu - server_cpu) / wall * 100
    if frames != sessions * turns * FRAMES_PER_TURN:
        raise SystemExit(f"counted {frames} frames, expected {sessions * turns * FRAMES_PER_TURN}")
    return cpu / frames * 1e6, others


def live_rows(
    url: str, args: argparse.Namespace, server: psutil.Process
) -> tuple[list[tuple[str, float, float]], list[float]]:
    variants = {"before": (BeforeTransport, BeforeAdapter), "after": (WebSocketTransport, NativeAdapter)}
    samples: dict[tuple[str, str], list[float]] = {}
    others: list[float] = []
    for run in range(args.runs):
        for depth in DEPTHS:
            for name, (transport_cls, adapter_cls) in variants.items():
                with histograms(before=name == "before"):
                    us, busy = live_run(url, transport_cls, adapter_cls, depth, args.sessions, args.turns, server)
                samples.setdefault((depth, name), []).append(us)
                others.append(busy)
        print(f"  live run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    rows = [
        (depth, statistics.median(samples[depth, "before"]), statistics.median(samples[depth, "after"]))
        for depth in DEPTHS
    ]
    return rows, others


# -- report ------------------------------------------------------------------------------------


def table(
    title: str,
    rows: Sequence[tuple[str, float, float]],
    total: str | None = None,
    columns: tuple[str, str] = ("before", "after"),
) -> list[str]:
    width = max(len(name) for name, _, _ in rows) + 2
    lines = [title, f"{'':<{width}}{columns[0]:>9}{columns[1]:>9}{'ratio':>8}"]
    for name, before, after in rows:
        ratio = f"{before / after:>7.2f}x" if after else f"{'-':>8}"  # a stage the other side has not
        lines.append(f"{name:<{width}}{before:>9.2f}{after:>9.2f}{ratio}")
    if total:
        b, a = sum(r[1] for r in rows), sum(r[2] for r in rows)
        lines.append(f"{total:<{width}}{b:>9.2f}{a:>9.2f}{b / a:>7.2f}x")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10, help="turns per session in each live run")
    parser.add_argument("--itl-ms", type=float, nargs="+", default=[0.0, 1.0], help="server ITL; one live table each")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is shown)")
    parser.add_argument("--offline-turns", type=int, default=3000, help="turns replayed per offline run")
    parser.add_argument("--no-live", action="store_true", help="offline stages only (1 and 3)")
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    report = [
        f"client CPU per received frame, µs (process CPU time, median of {args.runs} runs; "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]})",
        "",
    ]
    for index, itl in enumerate(args.itl_ms):
        flags = ["--procs", "1", "--ttft-ms", "0", "--itl-ms", f"{itl:g}", "--tokens", "20", "--heartbeat-s", "0"]
        with LocalServer(flags) as server:
            if index == 0:
                texts = capture_turn(server.ws_url)
                report += table(
                    "1. stages, offline (the bytes at hand, one frame per read)",
                    stage_rows(texts, args.offline_turns, args.runs),
                    "sum of the stages",
                )
                report.append("")
                rows, bytes_line = deflate_rows(
                    texts, "how long is a piece of string", args.offline_turns, args.runs, cpu_us_per_frame
                )
                report += table("3. permessage-deflate, offline", rows, columns=("plain", "deflate"))
                report += [bytes_line, ""]
            if args.no_live:
                break
            rows, others = live_rows(server.ws_url, args, psutil.Process(server.pid))
        report += table(
            f"2. end to end, live: {args.sessions} sessions x {args.turns} turns x "
            f"{FRAMES_PER_TURN} frames, server ITL {itl:g} ms; the handler goes as deep as",
            rows,
        )
        report.append(
            f"   other processes' CPU during the runs: median {statistics.median(others):.0f} %, "
            f"max {max(others):.0f} % of one core"
        )
        report.append("")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
