"""A netem delay line in user space, for kernels built without the `netem` qdisc.

Run inside rtbench's network namespace (`ip netns exec NS python -m rtbench.netem_queue ...`):
iptables rules send the namespace's veth packets to NFQUEUE queue N; this process holds each one
for `delay ± jitter` (uniform, as netem draws it without a distribution table), drops a `loss`
fraction, and gives the kernel its verdict. The packets themselves stay in the kernel (only
their ids come up), so TCP sees exactly what it would see behind netem: a slower wire.

The nfnetlink_queue messages are packed here with `struct` (the Python bindings of
libnetfilter_queue need a C build and cannot hold a verdict past their callback). Layout:
linux/netfilter/nfnetlink_queue.h.
"""

from __future__ import annotations

import argparse
import ctypes
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator

__all__ = ["DelayLine", "main"]

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_COPY_META = 1  # ids and metadata only, no payload
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NLA_TYPE_MASK = 0x3FFF
QUEUE_MAXLEN = 10_000  # packets held at once (netem's default limit is 1,000)
RECV_BYTES = 1 << 20
PR_SET_PDEATHSIG = 1
NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid (host order)
NFGENMSG = struct.Struct("=BBH")  # family, version, res_id (big-endian, packed separately)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _message(msg: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    body = NFGENMSG.pack(socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, seq, 0) + body


def _messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload after the netlink header) of each message in one datagram."""
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, kind, _, _, _ = NLMSG_HEADER.unpack_from(data, offset)
        if length < NLMSG_HEADER.size:
            return
        yield kind, data[offset + NLMSG_HEADER.size : offset + length]
        offset += (length + 3) & ~3


def _packet_id(payload: bytes) -> int | None:
    """The packet id of an NFQNL_MSG_PACKET payload (nfgenmsg, then attributes)."""
    offset = NFGENMSG.size
    while offset + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, offset)
        if length < 4:
            return None
        if kind & NLA_TYPE_MASK == NFQA_PACKET_HDR:
            return int(struct.unpack_from(">I", payload, offset + 4)[0])
        offset += (length + 3) & ~3
    return None


class DelayLine:
    """Holds every packet of queue `queue` for delay ± jitter ms, dropping `loss` (0..1) of them."""

    def __init__(
        self, queue: int, delay_ms: float, jitter_ms: float = 0.0, loss: float = 0.0, seed: int | None = None
    ) -> None:
        self.queue = queue
        self.delay_s = delay_ms / 1000.0
        self.jitter_s = jitter_ms / 1000.0
        self.loss = loss
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BYTES)
        self.sock.bind((0, 0))
        self._held: list[tuple[float, int, int]] = []  # (release time, order, packet id)
        self._order = 0
        self.passed = self.dropped = 0

    def bind(self) -> None:
        """Bind the queue, ask for metadata only, raise its length. OSError when refused."""
        self._request(_attr(NFQA_CFG_CMD, struct.pack(">BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_UNSPEC)))
        self._request(_attr(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META)))
        self._request(_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", QUEUE_MAXLEN)))

    def _request(self, attrs: bytes) -> None:
        self.sock.sendto(_message(NFQNL_MSG_CONFIG, self.queue, attrs, NLM_F_REQUEST | NLM_F_ACK), (0, 0))
        for kind, payload in _messages(self.sock.recv(RECV_BYTES)):
            if kind == NLMSG_ERROR:
                error = -struct.unpack_from("=i", payload)[0]
                if error:
                    raise OSError(error, f"nfqueue {self.queue}: {os.strerror(error)}")
                return

    def _verdict(self, packet_id: int, verdict: int) -> None:
        attrs = _attr(NFQA_VERDICT_HDR, struct.pack(">II", verdict, packet_id))
        self.sock.sendto(_message(NFQNL_MSG_VERDICT, self.queue, attrs), (0, 0))

    def _arrived(self, packet_id: int, now: float) -> None:
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
            self._verdict(packet_id, NF_DROP)
            return
        jitter = self.rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        self._order += 1
        heapq.heappush(self._held, (now + max(0.0, self.delay_s + jitter), self._order, packet_id))

    def _release_due(self, now: float) -> None:
        while self._held and self._held[0][0] <= now:
            _, _, packet_id = heapq.heappop(self._held)
            self.passed += 1
            self._verdict(packet_id, NF_ACCEPT)

    def step(self, max_wait_s: float = 0.5) -> None:
        """Wait for packets or the next release (at most `max_wait_s`), then handle both."""
        wait = max_wait_s if not self._held else max(0.0, min(max_wait_s, self._held[0][0] - time.monotonic()))
        readable, _, _ = select.select([self.sock], [], [], wait)
        if readable:
            now = time.monotonic()
            for kind, payload in _messages(self.sock.recv(RECV_BYTES)):
                if kind & 0xFF == NFQNL_MSG_PACKET and (packet_id := _packet_id(payload)) is not None:
                    self._arrived(packet_id, now)
        self._release_due(time.monotonic())

    def flush(self) -> None:
        """Let every held packet go now (on the way out)."""
        self._release_due(float("inf"))


def _die_with_parent() -> None:
    """SIGTERM this process when the rtbench process that started it dies (even by SIGKILL)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtbench-netem-queue", description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0, help="fraction 0..1")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    _die_with_parent()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    line = DelayLine(args.queue, args.delay_ms, args.jitter_ms, args.loss, args.seed)
    try:
        line.bind()
    except OSError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    print("ready", flush=True)
    while not stopping:
        line.step()
    line.flush()
    print(f"passed {line.passed} dropped {line.dropped}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
