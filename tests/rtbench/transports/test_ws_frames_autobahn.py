"""FrameReader on the RFC 6455 cases Autobahn's fuzzingserver plays against a client (cases 1-7 and
9 of crossbario/autobahn-testsuite; Autobahn itself does not run on Python 3.11), each fed in one
chop, frame by frame and octet by octet. A case passes when the reader gives the messages and
control frames the case expects, in order, and then either goes on (a valid stream) or fails with
the close code the case expects (1002 protocol error, 1007 invalid payload, 1009 too big), giving
nothing after the violation. The close frame a client answers with is `close_reply`'s code."""

from __future__ import annotations

from typing import Any

import pytest

from rtbench.transports.ws_frames import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    close_reply,
    valid_close_code,
)

TEXT, BINARY, CONT = OPCODE_TEXT, OPCODE_BINARY, OPCODE_CONTINUATION
CLOSE, PING, PONG = OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """One frame as a server (or, with `mask`, a client) would send it; any field may be wrong."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n, masked = len(payload), 0x80 if mask else 0
    if n < 126:
        head += bytes([masked | n])
    elif n < 65536:
        head += bytes([masked | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([masked | 127]) + n.to_bytes(8, "big")
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close(code: int | None = None, reason: bytes = b"") -> bytes:
    return frame(CLOSE, b"" if code is None else code.to_bytes(2, "big") + reason)


HELLO = frame(TEXT, b"Hello, world!")
SAID = (TEXT, "Hello, world!")
KAPPA = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε"
#: Autobahn 6.3.1: invalid exactly at byte 12 (a UTF-16 surrogate, ED A0 80).
SURROGATE_TEXT = KAPPA + b"\xed\xa0\x80" + b"edited"
UTF8 = "Hello-µ@ßöäüàá-UTF-8!!".encode()


def fragments(opcode: int, payload: bytes, size: int) -> list[bytes]:
    """`payload` as a fragmented message of `size`-byte fragments."""
    parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    return [frame(opcode if i == 0 else CONT, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)]


#: case -> (frames the server sends, what the reader gives, close code it fails with or None)
CASES: dict[str, tuple[list[bytes], list[tuple[int, Any]], int | None]] = {
    # 1.x: text and binary messages of every length encoding
    **{
        f"1.1.{i} text of {n}": ([frame(TEXT, b"*" * n)], [(TEXT, "*" * n)], None)
        for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536], 1)
    },
    **{
        f"1.2.{i} binary of {n}": ([frame(BINARY, b"\xfe" * n)], [(BINARY, b"\xfe" * n)], None)
        for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536], 1)
    },
    # 2.x: pings and pongs
    "2.1 ping without payload": ([frame(PING)], [(PING, b"")], None),
    "2.2 ping with text": ([frame(PING, b"Hello")], [(PING, b"Hello")], None),
    "2.3 ping with binary": ([frame(PING, b"\x00\xff\xfe\xfd")], [(PING, b"\x00\xff\xfe\xfd")], None),
    "2.4 ping of 125": ([frame(PING, b"\xfe" * 125)], [(PING, b"\xfe" * 125)], None),
    "2.5 ping of 126": ([frame(PING, b"\xfe" * 126)], [], 1002),
    "2.7 unsolicited pong": ([frame(PONG)], [(PONG, b"")], None),
    "2.9 pong then ping": ([frame(PONG, b"x"), frame(PING, b"p")], [(PONG, b"x"), (PING, b"p")], None),
    "2.10 ten pings": ([frame(PING, b"%d" % i) for i in range(10)], [(PING, b"%d" % i) for i in range(10)], None),
    # 3.x: reserved bits without an extension
    "3.1 text with RSV=1": ([frame(TEXT, b"Hello, world!", rsv=1)], [], 1002),
    "3.2 RSV=2 after a good message": ([HELLO, frame(TEXT, b"x", rsv=2), frame(PING)], [SAID], 1002),
    "3.3 RSV=3 after a good message": ([HELLO, frame(TEXT, b"x", rsv=3), frame(PING)], [SAID], 1002),
    "3.4 RSV=4 after a good message": ([HELLO, frame(TEXT, b"x", rsv=4), frame(PING)], [SAID], 1002),
    "3.5 binary with RSV=5": ([frame(BINARY, b"\xff", rsv=5)], [], 1002),
    "3.6 ping with RSV=6": ([frame(PING, b"p", rsv=6)], [], 1002),
    "3.7 close with RSV=7": ([frame(CLOSE, rsv=7)], [], 1002),
    # 4.x: reserved opcodes
    **{f"4.1.{op - 2} opcode {op}": ([HELLO, frame(op, b"r"), frame(PING)], [SAID], 1002) for op in range(3, 8)},
    **{f"4.2.{op - 10} opcode {op}": ([HELLO, frame(op, b"r"), frame(PING)], [SAID], 1002) for op in range(11, 16)},
    # 5.x: fragmentation
    "5.1 fragmented ping": ([frame(PING, b"fragment1", fin=False), frame(CONT, b"fragment2")], [], 1002),
    "5.2 fragmented pong": ([frame(PONG, b"fragment1", fin=False), frame(CONT, b"fragment2")], [], 1002),
    "5.3 text in 2 fragments": (
        [frame(TEXT, b"frag1", fin=False), frame(CONT, b"frag2")],
        [(TEXT, "frag1frag2")],
        None,
    ),
    "5.6 a ping between fragments": (
        [frame(TEXT, b"frag1", fin=False), frame(PING, b"ping"), frame(CONT, b"frag2")],
        [(PING, b"ping"), (TEXT, "frag1frag2")],
        None,
    ),
    "5.9 continuation fin=1 with nothing to continue": ([frame(CONT, b"non-continuation"), HELLO], [], 1002),
    "5.12 continuation fin=0 with nothing to continue": (
        [frame(CONT, b"non-continuation", fin=False), HELLO],
        [],
        1002,
    ),
    "5.15 a continuation after the message ended": (
        [frame(TEXT, b"f1", fin=False), frame(CONT, b"f2"), frame(CONT, b"f3", fin=False), frame(TEXT, b"f4")],
        [(TEXT, "f1f2")],
        1002,
    ),
    "5.16 continuation, then a fragmented message": (
        [frame(CONT, b"f1", fin=False), frame(TEXT, b"f2", fin=False), frame(CONT, b"f3")],
        [],
        1002,
    ),
    "5.18 a new text frame inside a fragmented message": (
        [frame(TEXT, b"fragment1", fin=False), frame(TEXT, b"fragment2")],
        [],
        1002,
    ),
    "5.19 five fragments and two pings": (
        [
            frame(TEXT, b"f1 ", fin=False),
            frame(CONT, b"f2 ", fin=False),
            frame(PING, b"pong 1"),
            frame(CONT, b"f3 ", fin=False),
            frame(CONT, b"f4 ", fin=False),
            frame(PING, b"pong 2"),
            frame(CONT, b"f5"),
        ],
        [(PING, b"pong 1"), (PING, b"pong 2"), (TEXT, "f1 f2 f3 f4 f5")],
        None,
    ),
    # 6.x: UTF-8 in text messages
    "6.1.1 empty text": ([frame(TEXT)], [(TEXT, "")], None),
    "6.1.2 three empty fragments": (
        [frame(TEXT, fin=False), frame(CONT, fin=False), frame(CONT)],
        [(TEXT, "")],
        None,
    ),
    "6.1.3 empty, middle, empty": (
        [frame(TEXT, fin=False), frame(CONT, b"middle", fin=False), frame(CONT)],
        [(TEXT, "middle")],
        None,
    ),
    "6.2.1 valid UTF-8 in one frame": ([frame(TEXT, UTF8)], [(TEXT, UTF8.decode())], None),
    "6.2.3 valid UTF-8 in 1-octet fragments": (fragments(TEXT, UTF8, 1), [(TEXT, UTF8.decode())], None),
    "6.2.4 valid UTF-8 in 1-octet fragments, 4-byte code point": (
        fragments(TEXT, "\U0001d11e𝄞".encode(), 1),
        [(TEXT, "\U0001d11e𝄞")],
        None,
    ),
    "6.3.1 invalid UTF-8 in one frame": ([frame(TEXT, SURROGATE_TEXT)], [], 1007),
    "6.3.2 invalid UTF-8 in 1-octet fragments": (fragments(TEXT, SURROGATE_TEXT, 1), [], 1007),
    # 7.x: closing
    "7.1.1 a message, then a close": ([HELLO, close(1000)], [SAID, (CLOSE, b"\x03\xe8")], None),
    "7.1.2 two close frames": ([close(1000), close(1000)], [(CLOSE, b"\x03\xe8")], None),
    "7.1.3 a ping after the close": ([close(1000), frame(PING)], [(CLOSE, b"\x03\xe8")], None),
    "7.1.4 a text after the close": ([close(1000), HELLO], [(CLOSE, b"\x03\xe8")], None),
    "7.1.5 fragment, close, fragment": (
        [frame(TEXT, b"fragment1", fin=False), close(1000), frame(CONT, b"fragment2")],
        [(CLOSE, b"\x03\xe8")],
        None,
    ),
    "7.3.1 close without payload": ([close()], [(CLOSE, b"")], None),
    "7.3.2 close with a 1-byte payload": ([frame(CLOSE, b"a")], [], 1002),
    "7.3.4 close with code and reason": ([close(1000, b"Hello World!")], [(CLOSE, b"\x03\xe8Hello World!")], None),
    "7.3.5 close with a reason of 123": ([close(1000, b"*" * 123)], [(CLOSE, b"\x03\xe8" + b"*" * 123)], None),
    "7.3.6 close of 126": ([close(1000, b"*" * 124)], [], 1002),
    "7.5.1 close reason of invalid UTF-8": ([close(1000, SURROGATE_TEXT)], [], 1007),
    # the server must not mask; over 64 bits; a frame over the client's limit (9.x: sizes)
    "masked text from the server": ([frame(TEXT, b"masked", mask=b"\x01\x02\x03\x04")], [], 1002),
    "masked close from the server": ([frame(CLOSE, b"\x03\xe8", mask=b"\x01\x02\x03\x04")], [], 1002),
    "64-bit length with its top bit set": ([bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big")], [], 1002),
    "9.1.1 text of 64K": ([frame(TEXT, b"BAsd7&jh23" * 6554)], [(TEXT, "BAsd7&jh23" * 6554)], None),
    "9.2.6 binary of 16M": ([frame(BINARY, b"\xfe" * 2**24)], [(BINARY, b"\xfe" * 2**24)], None),
    "9.4.x binary of 4M in 64K fragments": (
        fragments(BINARY, b"\x01" * 2**22, 2**16),
        [(BINARY, b"\x01" * 2**22)],
        None,
    ),
}


def chops(stream: list[bytes], how: str) -> list[bytes]:
    if how == "one chop":
        return [b"".join(stream)]
    if how == "frame-wise":
        return stream
    data = b"".join(stream)
    return [data[i : i + 1] for i in range(len(data))]


#: Streams longer than this are fed in one chop and frame by frame only (octet by octet is slow).
OCTET_WISE_MAX_BYTES = 70_000
FEEDS = [
    pytest.param(stream, expected, code, how, id=f"{name}-{how}")
    for name, (stream, expected, code) in CASES.items()
    for how in ("one chop", "frame-wise", "octet-wise")
    if how != "octet-wise" or sum(map(len, stream)) <= OCTET_WISE_MAX_BYTES
]


@pytest.mark.parametrize(("stream", "expected", "code", "how"), FEEDS)
def test_autobahn_case(stream: list[bytes], expected: list[tuple[int, Any]], code: int | None, how: str) -> None:
    reader = FrameReader(max_message_bytes=2**24)
    out = [item for piece in chops(stream, how) for item in reader.feed(piece)]
    assert out == expected
    if code is None:
        assert reader.error is None
    else:
        assert reader.error and reader.close_code == code
        assert reader.feed(HELLO) == []


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999])
def test_7_7_valid_close_codes_are_echoed(code: int) -> None:
    reader = FrameReader()
    payload = code.to_bytes(2, "big")
    assert reader.feed(close(code)) == [(CLOSE, payload)] and reader.error is None
    assert close_reply(payload) == code
    assert close_reply(b"") == 1000  # 7.3.1: a close without a code is answered with 1000


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_7_9_invalid_close_codes_fail_with_1002(code: int) -> None:
    reader = FrameReader()
    assert reader.feed(HELLO + close(code)) == [SAID]
    assert reader.close_code == 1002 and f"invalid code {code}" in (reader.error or "")
    assert not valid_close_code(code)


#: Markus Kuhn's UTF-8 decoder capability and stress test, the cases Autobahn 6.x builds on:
#: (valid, bytes). Python's strict decoder must agree with each, whole and split at every byte.
UTF8_CASES: list[tuple[bool, bytes]] = [
    *((True, b) for b in [b"hello\x24world", b"hello\xc2\xa2world", b"hello\xe2\x82\xacworld", KAPPA]),
    *((True, b) for b in [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"]),  # first of each length
    *((True, b) for b in [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"]),  # last of each length
    *((True, b) for b in [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd", b"\xef\xbf\xbe"]),  # boundaries
    *((False, b) for b in [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xf7\xbf\xbf\xbf"]),  # 5, 6 bytes
    (False, b"\xf4\x90\x80\x80"),  # over U+10FFFF
    *((False, bytes([b])) for b in range(0x80, 0xC0, 7)),  # lone continuation bytes
    (False, b"\x80\xbf\x80\xbf"),
    *((False, bytes([b, 0x20])) for b in range(0xC0, 0xF8, 5)),  # lone start bytes followed by a space
    *((False, b) for b in [b"\xc2", b"\xe0\xa0", b"\xf0\x90\x80", b"\xdf", b"\xef\xbf", b"\xf4\x8f\xbf"]),  # cut short
    *((False, b) for b in [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"]),  # impossible bytes
    # overlong forms
    *((False, b) for b in [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xc1\xbf", b"\xe0\x9f\xbf"]),
    *((False, b) for b in [b"\xf0\x8f\xbf\xbf", b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80"]),
    # UTF-16 surrogates, single and paired
    *((False, b) for b in [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80"]),
    (False, SURROGATE_TEXT),
]


@pytest.mark.parametrize(("valid", "data"), UTF8_CASES, ids=[d.hex() for _, d in UTF8_CASES])
def test_6_x_utf8_whole_and_in_fragments_of_every_size(valid: bool, data: bytes) -> None:
    for size in range(1, len(data) + 1):
        for stream in ([frame(TEXT, data)], fragments(TEXT, data, size)):
            reader = FrameReader()
            out = [item for piece in stream for item in reader.feed(piece)]
            if valid:
                assert out == [(TEXT, data.decode())] and reader.error is None
            else:
                assert out == [] and reader.close_code == 1007, (data, size)


def test_6_4_invalid_utf8_fails_fast_at_the_fragment_that_holds_it() -> None:
    """6.4.1 and 6.4.2: a valid first fragment is taken; the fragment that makes the text invalid
    fails the message at once, before the rest of it arrives."""
    reader = FrameReader()
    assert reader.feed(frame(TEXT, KAPPA, fin=False)) == [] and reader.error is None
    assert reader.feed(frame(CONT, b"\xf4\x90\x80\x80", fin=False)) == [] and reader.close_code == 1007
    reader = FrameReader()
    assert reader.feed(frame(TEXT, KAPPA + b"\xf4", fin=False)) == [] and reader.error is None  # F4 may begin one
    assert reader.feed(frame(CONT, b"\x90", fin=False)) == [] and reader.close_code == 1007  # F4 90 cannot


def test_a_message_over_the_limit_fails_with_1009_from_its_header() -> None:
    reader = FrameReader(max_message_bytes=1000)
    assert reader.feed(HELLO + frame(TEXT, b"x" * 1001)[:4]) == [SAID]  # the header alone is enough
    assert reader.close_code == 1009
    reader = FrameReader(max_message_bytes=1000)
    assert reader.feed(b"".join(fragments(BINARY, b"x" * 1001, 500))) == []
    assert reader.close_code == 1009


def test_a_control_frame_over_125_fails_from_its_header() -> None:
    reader = FrameReader()
    assert reader.feed(bytes([0x89, 127]) + (2**40).to_bytes(8, "big")) == []  # no 1 TB wait
    assert reader.close_code == 1002 and "control frame" in (reader.error or "")
