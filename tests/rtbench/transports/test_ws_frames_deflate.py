"""FrameReader with permessage-deflate negotiated (RFC 7692 section 6): compressed messages
inflate, whole or fragmented, in any split; RSV1 where it may not be and streams that do not
inflate fail with the close code the RFCs give; payload bytes are counted after inflating."""

from __future__ import annotations

import zlib

import pytest

from rtbench.transports.deflate import TAIL, Inflater, Negotiated
from rtbench.transports.ws_frames import OPCODE_BINARY, OPCODE_PING, OPCODE_TEXT, FrameReader

RSV1 = 0x40


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    return head + bytes([126]) + len(payload).to_bytes(2, "big") + payload


def deflated(*messages: bytes) -> list[bytes]:
    compressor = zlib.compressobj(wbits=-15)
    return [(compressor.compress(m) + compressor.flush(zlib.Z_SYNC_FLUSH))[: -len(TAIL)] for m in messages]


def reader(limit: int = 1 << 20) -> FrameReader:
    return FrameReader(limit, Inflater(Negotiated(), limit))


TOKENS = [b'{"type":"token","seq":%d,"text":"tok%d ","count":1}' % (i, i) for i in range(1, 6)]


def test_compressed_messages_inflate_whatever_the_split() -> None:
    wire = b"".join(frame(OPCODE_TEXT, p, rsv=RSV1) for p in deflated(*TOKENS))
    for step in (1, 2, 3, 7, len(wire)):
        frames = reader()
        out = [m for i in range(0, len(wire), step) for m in frames.feed(wire[i : i + step])]
        assert out == [(OPCODE_TEXT, t.decode()) for t in TOKENS], step
        assert frames.error is None and frames.payload_bytes == sum(map(len, TOKENS))


def test_a_fragmented_compressed_message_and_uncompressed_ones_beside_it() -> None:
    first, second = deflated(b"x" * 300, b'{"binary": true}')
    wire = (
        frame(OPCODE_TEXT, first[:5], fin=False, rsv=RSV1)
        + frame(OPCODE_PING, b"p")  # a control frame between the fragments
        + frame(0, first[5:10], fin=False)
        + frame(0, first[10:])
        + frame(OPCODE_TEXT, b"plain")  # a server may leave a message uncompressed
        + frame(OPCODE_BINARY, second, rsv=RSV1)
    )
    frames = reader()
    assert frames.feed(wire) == [
        (OPCODE_PING, b"p"),
        (OPCODE_TEXT, "x" * 300),
        (OPCODE_TEXT, "plain"),
        (OPCODE_BINARY, b'{"binary": true}'),
    ]
    assert frames.payload_bytes == 300 + 5 + 16


@pytest.mark.parametrize(
    ("wire", "code", "why"),
    [
        (frame(OPCODE_TEXT, b"\xff\xff\xff\xff", rsv=RSV1), 1007, "did not inflate"),
        (frame(OPCODE_TEXT, deflated(b"\xce\xba\xed\xa0\x80")[0], rsv=RSV1), 1007, "invalid UTF-8"),
        (frame(OPCODE_BINARY, deflated(b"\0" * 5000)[0], rsv=RSV1), 1009, "inflates to over 1,000"),
        (frame(OPCODE_PING, b"", rsv=RSV1), 1002, "RSV1 set on a frame of opcode 0x9"),
        (frame(OPCODE_TEXT, b"a", fin=False) + frame(0, b"b", rsv=RSV1), 1002, "continuation"),
        (frame(OPCODE_TEXT, deflated(b"hi")[0], rsv=0x20), 1002, "reserved bits 0x20"),
    ],
)
def test_violations_fail_with_the_rfcs_close_code(wire: bytes, code: int, why: str) -> None:
    good = frame(OPCODE_TEXT, b"good")
    frames = reader(1000)
    assert frames.feed(good + wire + good) == [(OPCODE_TEXT, "good")]
    assert frames.close_code == code and frames.error is not None and why in frames.error
    assert frames.feed(good) == []


def test_rsv1_without_deflate_negotiated_is_a_protocol_error() -> None:
    frames = FrameReader()  # no inflater: the server never accepted permessage-deflate
    assert frames.feed(frame(OPCODE_TEXT, deflated(b"hello")[0], rsv=RSV1)) == []
    assert frames.close_code == 1002 and "reserved bits 0x40" in (frames.error or "")


def test_payload_bytes_count_uncompressed_messages_as_bytes_not_characters() -> None:
    frames = FrameReader()
    text = "ünïcödé".encode()
    frames.feed(frame(OPCODE_TEXT, text) + frame(OPCODE_TEXT, text[:3], fin=False) + frame(0, text[3:]))
    assert frames.payload_bytes == 2 * len(text)
