"""`WireTally`: the bytes and connections the transports of one process count, as plain ints.

Every transport of a process adds to one tally (`ConnectOptions.tally`) on its hot path: an
integer add per `recv` or send, no call. The load layer takes the counts into its recorder now
and then (`take`), as counters named as the slots are (`rtbench.metrics.names.WIRE_COUNTERS`);
rarer counts (deflate negotiated or declined, connections failed for a protocol error, by close
code) go by name through `count`.
"""

from __future__ import annotations

__all__ = ["WireTally", "TALLIED"]

#: The counters a tally keeps in slots, in the order `take` gives them.
TALLIED: tuple[str, ...] = (
    "ws_wire_bytes_in",
    "ws_wire_bytes_out",
    "ws_payload_bytes_in",
    "ws_payload_bytes_out",
    "http_connections_opened",
    "http_requests",
)


class WireTally:
    """Counts since the last `take`; used from the greenlets of one process (no lock needed)."""

    __slots__ = (*TALLIED, "_named")

    def __init__(self) -> None:
        self.ws_wire_bytes_in = 0
        self.ws_wire_bytes_out = 0
        self.ws_payload_bytes_in = 0
        self.ws_payload_bytes_out = 0
        self.http_connections_opened = 0
        self.http_requests = 0
        self._named: dict[str, int] = {}

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the rarer counter `name`."""
        self._named[name] = self._named.get(name, 0) + n

    def take(self) -> dict[str, int]:
        """The non-zero counts since the last call, by counter name; every count restarts at 0."""
        taken = {name: n for name in TALLIED if (n := getattr(self, name))}
        for name in taken:
            setattr(self, name, 0)
        taken.update(self._named)
        self._named = {}
        return taken
