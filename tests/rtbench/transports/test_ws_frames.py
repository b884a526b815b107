"""FrameReader on frames built by websocket-client's encoder (`ABNF.format`), fed in every split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websocket import ABNF

from rtbench.transports.ws_frames import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
)


def frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = False, rsv1: bool = False) -> bytes:
    abnf = ABNF(int(fin), int(rsv1), 0, 0, opcode, int(masked), payload)
    abnf.get_mask_key = lambda n: b"\x5a" * n  # fixed, not random: the same test ids in every xdist worker
    return abnf.format()


def feed_all(reader: FrameReader, pieces: list[bytes]) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for piece in pieces:
        out += reader.feed(piece)
    return out


def test_frames_of_every_length_encoding_in_one_chunk() -> None:
    payloads = [b"", b"a" * 125, b"b" * 126, b"c" * 65535, b"d" * 65536]
    stream = b"".join(frame(OPCODE_TEXT, p) for p in payloads) + frame(OPCODE_BINARY, b"\x00\xff")
    reader = FrameReader()
    assert reader.feed(stream) == [(OPCODE_TEXT, p.decode()) for p in payloads] + [(OPCODE_BINARY, b"\x00\xff")]
    assert reader.error is None


def test_a_frame_fed_one_byte_at_a_time_comes_out_once_complete() -> None:
    data = frame(OPCODE_TEXT, b"x" * 300)  # a 16-bit length: the header itself arrives in pieces
    reader = FrameReader()
    outputs = [reader.feed(data[i : i + 1]) for i in range(len(data))]
    assert outputs[:-1] == [[]] * (len(data) - 1)
    assert outputs[-1] == [(OPCODE_TEXT, "x" * 300)]
    assert reader.feed(frame(OPCODE_TEXT, b"next")) == [(OPCODE_TEXT, "next")]


def test_fragments_are_joined_and_control_frames_between_them_come_out_first() -> None:
    stream = (
        frame(OPCODE_TEXT, b"hel", fin=False)
        + frame(OPCODE_PING, b"are you there")
        + frame(OPCODE_CONTINUATION, b"lo, ", fin=False)
        + frame(OPCODE_CONTINUATION, b"world")
        + frame(OPCODE_PONG, b"")
        + frame(OPCODE_CLOSE, b"\x03\xe8bye")
    )
    assert FrameReader().feed(stream) == [
        (OPCODE_PING, b"are you there"),
        (OPCODE_TEXT, "hello, world"),
        (OPCODE_PONG, b""),
        (OPCODE_CLOSE, b"\x03\xe8bye"),
    ]


messages = st.lists(
    st.tuples(
        st.sampled_from([OPCODE_TEXT, OPCODE_BINARY]),
        st.binary(max_size=400) | st.text(max_size=150).map(str.encode),  # text: fragments split code points
        st.integers(min_value=1, max_value=3),  # fragments
        st.booleans(),  # a ping inside the message
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(messages, st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=12))
def test_any_split_of_any_stream_gives_the_same_messages(
    spec: list[tuple[int, bytes, int, bool]], cuts: list[float]
) -> None:
    stream, expected = b"", []
    for number, (opcode, payload, fragments, ping) in enumerate(spec):
        if opcode == OPCODE_TEXT:
            try:
                payload.decode()
            except UnicodeDecodeError:
                opcode = OPCODE_BINARY  # the invalid text cases are test_ws_frames_autobahn's
        size = -(-len(payload) // fragments) or 1
        parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            stream += frame(opcode if index == 0 else OPCODE_CONTINUATION, part, fin=last)
            if last:
                expected.append((opcode, payload.decode() if opcode == OPCODE_TEXT else payload))
            if ping and index == 0:
                stream += frame(OPCODE_PING, str(number).encode())
                expected.append((OPCODE_PING, str(number).encode()))
    bounds = sorted({0, len(stream), *(int(c * len(stream)) for c in cuts)})
    pieces = [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    reader = FrameReader()
    assert feed_all(reader, pieces) == expected
    assert reader.error is None


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (frame(OPCODE_TEXT, b"hi", masked=True), "a masked frame from the server", 1002),
        (frame(OPCODE_TEXT, b"hi", rsv1=True), "reserved bits 0x40 set without an extension", 1002),
        (bytes([0x83, 0]), "reserved opcode 0x3", 1002),
        (frame(OPCODE_PING, b"", fin=False), "a fragmented control frame (opcode 0x9)", 1002),
        (bytes([0x89, 126, 0, 126]) + b"p" * 126, "a control frame of over 125 bytes (opcode 0x9)", 1002),
        (frame(OPCODE_CONTINUATION, b"x"), "a continuation frame outside a fragmented message", 1002),
        (
            frame(OPCODE_TEXT, b"a", fin=False) + frame(OPCODE_BINARY, b"b"),
            "a new message before the fragmented one ended",
            1002,
        ),
        (frame(OPCODE_BINARY, b"x" * 101), "a message of 101 bytes, over the limit of 100", 1009),
        (
            frame(OPCODE_TEXT, b"x" * 60, fin=False) + frame(OPCODE_CONTINUATION, b"y" * 60),
            "a fragmented message over the limit of 100 bytes",
            1009,
        ),
        (frame(OPCODE_TEXT, b"\xff"), "invalid UTF-8 in a text message", 1007),
    ],
)
def test_violations_set_the_error_and_end_the_output(data: bytes, error: str, code: int) -> None:
    reader = FrameReader(max_message_bytes=100)
    before = frame(OPCODE_TEXT, b"fine")
    assert reader.feed(before + data + frame(OPCODE_TEXT, b"after")) == [(OPCODE_TEXT, "fine")]
    assert reader.error == error and reader.close_code == code
    assert reader.feed(frame(OPCODE_TEXT, b"later")) == []


def test_an_oversized_length_is_refused_before_its_payload_arrives() -> None:
    reader = FrameReader(max_message_bytes=1000)
    header = bytes([0x82, 127]) + (2**40).to_bytes(8, "big")
    assert reader.feed(header) == []
    assert reader.error == "a message of 1,099,511,627,776 bytes, over the limit of 1,000"
    assert reader.close_code == 1009
