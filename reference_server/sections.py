"""The `[faults]` and `[limits]` sections of the server's configuration (frozen dataclasses whose
fields are settings: reference_server.schema). reference_server.config re-exports them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference_server.schema import option

__all__ = ["FaultConfig", "LimitConfig"]


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection, all off by default."""

    drop_rate: float = option(
        0.0, "fraction of connections dropped abruptly", "faults", metavar="F", minimum=0, maximum=1
    )
    drop_after_s: tuple[float, float] = option(
        (1.0, 10.0), "a dropped connection goes after a uniform MIN..MAX seconds", "faults", metavar="MIN:MAX"
    )
    stall_ms: float = option(0.0, "stall all sending for M ms ...", "faults", metavar="M", minimum=0)
    stall_every_s: float = option(0.0, "... every N seconds; 0 = never", "faults", metavar="N", minimum=0)
    error_rate: float = option(
        0.0,
        "fraction of turns that fail with an 'injected' error instead of finishing",
        "faults",
        metavar="F",
        minimum=0,
        maximum=1,
    )
    close_after_stream: bool = option(
        False,
        "close each HTTP connection after its streamed response although the response advertised "
        "keep-alive (as llama.cpp's llama-server does)",
        "faults",
    )
    #: The fraction of open WebSockets a SIGUSR1 aborts at once (a reconnect storm); 0: SIGUSR1 is ignored.
    drop_on_signal: float = option(
        0.0,
        "reconnect storm: on SIGUSR1 every server process (--procs: the supervisor forwards it) "
        "aborts a random fraction F of its open WebSockets (/ws, /v1/realtime) at once, as "
        "--drop-rate does; 0 = SIGUSR1 is logged and ignored",
        "faults",
        metavar="F",
        minimum=0,
        maximum=1,
    )


@dataclass(frozen=True)
class LimitConfig:
    """Bounds on what clients may hold or send (PROTOCOL.md, "Limits"); a 0 turns off those that say so."""

    max_sessions: int = option(
        0,
        "open sessions per process (WebSockets plus HTTP completions in flight) before new ones "
        "get 503 max_sessions with Retry-After; 0 = unlimited",
        "limits",
        metavar="N",
        minimum=0,
    )
    #: Set on the command line by --rate-limit PROMPTS_PER_S[:BURST].
    rate_limit_per_s: float = option(
        0.0,
        "prompts per second per session; 0 = unlimited",
        "limits",
        flag=False,
        minimum=0,
        label="--rate-limit",
        unit="prompts/s",
    )
    rate_limit_burst: int = option(
        0,
        "the rate limit's bucket size; 0 = one second's worth",
        "limits",
        flag=False,
        minimum=0,
        label="--rate-limit BURST",
    )
    max_inflight: int = option(
        64,
        "prompts and persona switches in flight per session before inflight_limit errors; 0 = unlimited",
        "limits",
        metavar="N",
        minimum=0,
    )
    max_detached_sessions: int = option(
        10000,
        "resumable sessions without a connection; one more evicts the oldest; 0 = unlimited",
        "limits",
        metavar="N",
        minimum=0,
    )
    max_replay_bytes: int = option(
        2**20,
        "bytes of replayable frames kept per session, besides --replay-buffer frames; the oldest "
        "go first; 0 = no byte bound",
        "limits",
        metavar="N",
        minimum=0,
    )
    max_header_bytes: int = option(
        8190, "longest HTTP request line or header field; longer ones get 400", "limits", metavar="N", minimum=256
    )
    handshake_timeout_s: float = option(
        10.0,
        "a connection whose first request head (or a POST's body) has not arrived within S is "
        "closed: slowloris; 0 = never",
        "limits",
        metavar="S",
        minimum=0,
    )
    slow_reader_timeout_s: float = option(
        10.0,
        "a connection whose send buffer stays full for S (a client that does not read) is aborted; 0 = never",
        "limits",
        metavar="S",
        minimum=0,
    )

    @property
    def burst(self) -> int:
        """The rate limit's bucket size: `rate_limit_burst`, or one second's worth of prompts."""
        return self.rate_limit_burst or max(1, math.ceil(self.rate_limit_per_s))
