"""The NFQUEUE delay line's messages (pure), and its schedule: delay, jitter and loss on ids.

The delay line on real packets is measured by tests/rtbench/test_netem.py's ground truth.
"""

from __future__ import annotations

import struct

from rtbench.netem_queue import (
    NFNL_SUBSYS_QUEUE,
    NFQA_PACKET_HDR,
    NFQNL_MSG_PACKET,
    NFQNL_MSG_VERDICT,
    DelayLine,
    _attr,
    _message,
    _messages,
    _packet_id,
)


def _packet_message(packet_id: int, queue: int = 0) -> bytes:
    """An NFQNL_MSG_PACKET as the kernel sends it: the packet header (id, hw protocol, hook)."""
    header = _attr(NFQA_PACKET_HDR | 0x8000, struct.pack(">IHB", packet_id, 0x0800, 4))  # NLA_F_NESTED bit set
    return _message(NFQNL_MSG_PACKET, queue, _attr(9, b"\x01\x02\x03") + header)


def test_messages_split_and_packet_ids_parse() -> None:
    data = _packet_message(7) + _packet_message(4_000_000_000)
    parsed = list(_messages(data))
    assert [kind for kind, _ in parsed] == [(NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET] * 2
    assert [_packet_id(payload) for _, payload in parsed] == [7, 4_000_000_000]
    assert _packet_id(_message(NFQNL_MSG_PACKET, 0, b"")[16:]) is None


def test_attributes_are_padded_to_four_bytes() -> None:
    assert _attr(1, b"abcde") == struct.pack("=HH", 9, 1) + b"abcde" + b"\0\0\0"
    message = _message(NFQNL_MSG_VERDICT, 3, _attr(2, struct.pack(">II", 1, 7)))
    length, kind, _, _, _ = struct.unpack_from("=IHHII", message)
    assert length == len(message) == 16 + 4 + 12
    assert kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT
    assert struct.unpack_from(">H", message, 18)[0] == 3  # the queue number, big-endian


class _Verdicts(DelayLine):
    """A delay line whose verdicts are collected instead of sent."""

    def __init__(self, **kwargs: float) -> None:
        super().__init__(0, seed=1, **kwargs)  # type: ignore[arg-type]
        self.sent: list[tuple[int, int]] = []

    def _verdict(self, packet_id: int, verdict: int) -> None:
        self.sent.append((packet_id, verdict))


def test_packets_go_after_their_delay_and_loss_drops_at_once() -> None:
    line = _Verdicts(delay_ms=20.0)
    line._arrived(1, 100.0)
    line._arrived(2, 100.005)
    line._release_due(100.019)
    assert line.sent == []
    line._release_due(100.020)
    assert line.sent == [(1, 1)]
    line._release_due(100.025)
    assert line.sent == [(1, 1), (2, 1)]
    line.sock.close()

    lossy = _Verdicts(delay_ms=20.0, loss=1.0)
    lossy._arrived(9, 0.0)
    assert lossy.sent == [(9, 0)] and lossy.dropped == 1  # NF_DROP, not held
    lossy.sock.close()


def test_jitter_is_uniform_around_the_delay() -> None:
    line = _Verdicts(delay_ms=20.0, jitter_ms=10.0)
    for packet_id in range(2000):
        line._arrived(packet_id, 0.0)
    releases = sorted(t for t, _, _ in line._held)
    assert 0.010 <= releases[0] < 0.0105 and 0.0295 < releases[-1] <= 0.030
    assert abs(releases[len(releases) // 2] - 0.020) < 0.001
    line.sock.close()
