"""Prometheus metrics of the server, in one process or summed over `--procs N` processes.

With `PROMETHEUS_MULTIPROC_DIR` set (the supervisor does it), values live in per-process files
and `/metrics` served by any process covers them all. Per-frame counts go to plain-int `Tally`
objects first and are flushed into the counters every half second and on each scrape, because
a prometheus_client increment costs about 1 us per call in multiprocess mode.
"""

from __future__ import annotations

import gc
import os
import time
import weakref
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["LATENESS_BUCKETS", "PROTOCOLS", "REJECT_REASONS", "ServerMetrics", "Tally"]

PROTOCOLS = ("native", "openai", "realtime")

#: Kinds of refused or abusive input, the labels of `rtref_rejected_total{reason}` (PROTOCOL.md, "Limits").
REJECT_REASONS = (
    "max_sessions",
    "rate_limited",
    "inflight_limit",
    "oversize",
    "malformed",
    "unauthorized",
    "handshake_timeout",
    "slow_reader",
    "pong_timeout",
    "detached_evicted",
)

#: Error codes that are refusals, and the reason each is counted under.
_REASON_OF_CODE = {
    "max_sessions": "max_sessions",
    "rate_limited": "rate_limited",
    "inflight_limit": "inflight_limit",
    "too_large": "oversize",
    "unauthorized": "unauthorized",
    **dict.fromkeys(
        ("bad_json", "bad_utf8", "binary_unsupported", "unknown_type", "bad_request", "protocol_error"), "malformed"
    ),
}

#: Scheduling-error buckets (seconds): fine around 0-10 ms.
LATENESS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.00125,
    0.0015,
    0.00175,
    0.002,
    0.0025,
    0.003,
    0.004,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    1.0,
)


class Tally:
    """Frames, tokens and bytes sent by one protocol since the last flush, and the WebSocket bytes
    received and the message payloads both ways (`ws_common` counts them)."""

    __slots__ = ("frames", "tokens", "bytes", "bytes_in", "payload_in", "payload_out")

    def __init__(self) -> None:
        self.frames = 0
        self.tokens = 0
        self.bytes = 0
        self.bytes_in = 0
        self.payload_in = 0
        self.payload_out = 0


class ServerMetrics:
    """Every metric of one server process; `render()` gives the text for `/metrics`."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        disable_created_metrics()
        self.multiprocess = multiprocess_dir is not None
        registry = None if multiprocess_dir else CollectorRegistry()
        if multiprocess_dir:
            self._exposition = CollectorRegistry()
            MultiProcessCollector(self._exposition, path=multiprocess_dir)
        else:
            assert registry is not None
            self._exposition = registry
        self.sessions_open = Gauge(
            "rtref_sessions_open", "Sessions open now.", ["protocol"], multiprocess_mode="livesum", registry=registry
        )
        self.sessions_detached = Gauge(
            "rtref_sessions_detached",
            "Native sessions dropped and still resumable.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.sessions_total = Counter(
            "rtref_sessions", "Sessions (connections or HTTP streams) started.", ["protocol"], registry=registry
        )
        self.prompts = Counter("rtref_prompts", "Prompts (turns) received.", ["protocol"], registry=registry)
        self.tokens = Counter("rtref_tokens", "Tokens sent.", ["protocol"], registry=registry)
        self.input_tokens = Counter(
            "rtref_input_tokens",
            "Input tokens of the turns started: every token of each turn's context (usage's prompt_tokens).",
            ["protocol"],
            registry=registry,
        )
        self.frames = Counter(
            "rtref_frames", "Content frames (token / delta / chunk) sent.", ["protocol"], registry=registry
        )
        self.bytes_sent = Counter(
            "rtref_bytes_sent",
            "Bytes written to clients: WebSocket frames as on the wire (after permessage-deflate), HTTP body bytes.",
            ["protocol"],
            registry=registry,
        )
        self.bytes_received = Counter(
            "rtref_bytes_received",
            "Bytes read from WebSocket clients after the upgrade: frames as on the wire (before inflate).",
            ["protocol"],
            registry=registry,
        )
        self.payload_sent = Counter(
            "rtref_payload_bytes_sent",
            "Payload bytes of the WebSocket messages sent (before permessage-deflate).",
            ["protocol"],
            registry=registry,
        )
        self.payload_received = Counter(
            "rtref_payload_bytes_received",
            "Payload bytes of the WebSocket messages received (after permessage-deflate).",
            ["protocol"],
            registry=registry,
        )
        self.http_connections = Counter(
            "rtref_http_connections",
            "HTTP connections that carried a completion request.",
            ["protocol"],
            registry=registry,
        )
        self.http_requests = Counter(
            "rtref_http_requests", "HTTP completion requests received.", ["protocol"], registry=registry
        )
        self.errors = Counter("rtref_errors", "Errors reported to clients, by code.", ["code"], registry=registry)
        self.rejected = Counter(
            "rtref_rejected",
            "Refused or abusive input, by kind: limits hit, malformed or "
            "oversize messages, requests too slow to arrive, clients too slow to read.",
            ["reason"],
            registry=registry,
        )
        self.faults = Counter(
            "rtref_faults", "Injected faults, by kind (drop, stall, error).", ["kind"], registry=registry
        )
        self.storm_drops = Counter(
            "rtref_storm_drops",
            "Connections aborted by reconnect storms (SIGUSR1 with "
            '--drop-on-signal, POST /admin/drop); also in rtref_faults_total{kind="drop"}.',
            registry=registry,
        )
        self.last_storm = Gauge(
            "rtref_last_storm_timestamp_seconds",
            "Wall-clock time (Unix seconds) of the last reconnect storm in any process; 0: none yet.",
            multiprocess_mode="max",
            registry=registry,
        )
        self.resumes = Counter("rtref_resumes", "Native resume requests, by result.", ["result"], registry=registry)
        self.replayed = Counter("rtref_replayed_frames", "Frames replayed to resumed sessions.", registry=registry)
        self.lateness = Histogram(
            "rtref_send_lateness_seconds",
            "Server scheduling error: actual send time minus "
            "planned, on the server's monotonic clock. frame=first is each turn's first "
            "frame; frame=next the later frames the model spaced apart.",
            ["frame"],
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.gc_pause = Histogram(
            "rtref_gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector, by generation.",
            ["generation"],
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.slot_wait = Histogram(
            "rtref_slot_wait_seconds",
            "Time turns waited for a generation slot (--slots).",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.requests_waiting = Gauge(
            "rtref_requests_waiting",
            "Turns waiting for a generation slot (--slots) now.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.requests_running = Gauge(
            "rtref_requests_running",
            "Turns generating (holding a slot) now.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rss = Gauge(
            "rtref_process_resident_memory_bytes",
            "Resident memory of each server process.",
            ["process_id"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.cpu = Gauge(
            "rtref_process_cpu_seconds",
            "CPU time (user + system) of each server process.",
            ["process_id"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rss_total = Gauge(
            "rtref_resident_memory_bytes",
            "Resident memory of all server processes.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.cpu_total = Gauge(
            "rtref_cpu_seconds", "CPU time of all server processes.", multiprocess_mode="livesum", registry=registry
        )
        self.late_first = self.lateness.labels("first")
        self.late_next = self.lateness.labels("next")
        self.tallies = {p: Tally() for p in PROTOCOLS}
        self._http_seen: weakref.WeakSet[Any] = weakref.WeakSet()  # transports that carried a request
        self._flushed = {
            p: (
                self.frames.labels(p),
                self.tokens.labels(p),
                self.bytes_sent.labels(p),
                self.bytes_received.labels(p),
                self.payload_received.labels(p),
                self.payload_sent.labels(p),
            )
            for p in PROTOCOLS
        }
        for p in PROTOCOLS:
            self.sessions_open.labels(p)
            self.sessions_total.labels(p)
            self.prompts.labels(p)
            self.input_tokens.labels(p)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        self._process = psutil.Process(os.getpid())
        self._pid = str(os.getpid())
        self.sample_process()

    def watch_gc(self) -> None:
        """Time every garbage collection into `rtref_gc_pause_seconds` (gc.callbacks)."""
        started = 0.0
        children = [self.gc_pause.labels(str(generation)) for generation in range(3)]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                children[info["generation"]].observe(time.perf_counter() - started)

        gc.callbacks.append(on_gc)

    def error(self, code: str) -> None:
        """Count an error sent to a client (and, for a refusal's code, the refusal)."""
        self.errors.labels(code).inc()
        reason = _REASON_OF_CODE.get(code)
        if reason is not None:
            self.rejected.labels(reason).inc()

    def http_request(self, protocol: str, transport: Any) -> None:
        """Count an HTTP request, and its connection the first time it carries one."""
        self.http_requests.labels(protocol).inc()
        if transport is not None and transport not in self._http_seen:
            self._http_seen.add(transport)
            self.http_connections.labels(protocol).inc()

    def reject(self, reason: str) -> None:
        """Count refused or abusive input that got no error of its own (a timeout, a dropped reader)."""
        self.rejected.labels(reason).inc()

    def flush(self) -> None:
        """Move the tallies into the Prometheus counters."""
        for protocol, tally in self.tallies.items():
            for name, counter in zip(Tally.__slots__, self._flushed[protocol], strict=True):
                value = getattr(tally, name)
                if value:
                    counter.inc(value)
                    setattr(tally, name, 0)

    def sample_process(self) -> None:
        """Record this process's RSS and CPU time."""
        try:
            rss = self._process.memory_info().rss
            times = self._process.cpu_times()
        except psutil.Error:
            return
        cpu = times.user + times.system
        self.rss.labels(self._pid).set(rss)
        self.cpu.labels(self._pid).set(cpu)
        self.rss_total.set(rss)
        self.cpu_total.set(cpu)

    def render(self) -> bytes:
        """The Prometheus text exposition (flushing this process first)."""
        self.flush()
        self.sample_process()
        return generate_latest(self._exposition)
