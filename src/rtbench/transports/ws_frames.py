"""Server-to-client WebSocket frames (RFC 6455, and RFC 7692's permessage-deflate once
negotiated), sans-I/O: bytes in, messages out.

`FrameReader.feed(data)` takes whatever one `recv` returned, in any split, and gives back every
message and control frame completed by it, in order, as `(opcode, payload)`: a text message's
payload is its decoded `str` (strict UTF-8, as the text is needed decoded anyway), any other
payload `bytes`. Fragments are joined into one message (a ping or close between them comes out on
its own); the fragments of a text message are decoded as they come, so invalid UTF-8 fails at the
fragment that holds it. A close frame comes out only if its code and reason are valid, and ends
the output: nothing after it is read.

Whatever violates the protocol for a client sets `error` (what) and `close_code` (the status code
to fail the connection with, RFC 6455 section 7.4.1): 1002 for a masked frame, a reserved bit
without an extension, a reserved opcode, a control frame that is fragmented or over 125 bytes, a
continuation without a message or a new message inside one, a close frame of one byte or with a
code no endpoint may send; 1007 for invalid UTF-8 in a text message or a close reason; 1009 for a
message over `max_message_bytes`. The messages before the violation are still returned and
nothing after it is. `close_reply(payload)` is the code to answer a valid close frame with.

With an `inflater` (`rtbench.transports.deflate.Inflater`, set once permessage-deflate was
negotiated), a data message whose first frame has RSV1 set is compressed: its frames' payloads are
joined and inflated before the text is decoded. RSV1 on a continuation or control frame is still
1002, as is RSV1 at all without an inflater (RFC 7692 section 6); a stream that does not inflate
is 1007, one that inflates to over `max_message_bytes` 1009. `payload_bytes` counts the bytes of
the data messages given out (after inflating, before decoding).

Why not websocket-client's or wsproto's parser: websocket-client reads every frame with two or
more `recv` calls (header, then payload) and builds several objects per frame, about 3.4 µs of
CPU per small frame even with the bytes at hand; wsproto's `FrameProtocol` took 5.7 µs; this
reader takes about 0.4 µs (benchmarks/frame_path.py), and one `recv` serves all the frames that
arrived together, so they also share one receive time: the moment their bytes arrived.
"""

from __future__ import annotations

import codecs

from rtbench.transports.deflate import InflateError, Inflater, TooBig

__all__ = [
    "OPCODE_CONTINUATION",
    "OPCODE_TEXT",
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_PING",
    "OPCODE_PONG",
    "MAX_MESSAGE_BYTES",
    "MAX_CONTROL_BYTES",
    "PROTOCOL_ERROR",
    "INVALID_PAYLOAD",
    "MESSAGE_TOO_BIG",
    "NORMAL_CLOSURE",
    "FrameReader",
    "valid_close_code",
    "close_reply",
]

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA
_CONTROL = frozenset({OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG})
_DATA = frozenset({OPCODE_TEXT, OPCODE_BINARY})

#: Close status codes (RFC 6455 section 7.4.1).
NORMAL_CLOSURE = 1000
PROTOCOL_ERROR = 1002
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009

#: The default limit of one message's payload (a fragmented one's in all).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: The largest payload of a control frame (RFC 6455 section 5.5).
MAX_CONTROL_BYTES = 125

_FIN = 0x80
_RESERVED = 0x70
_RSV1 = 0x40
_MASKED = 0x80
_Frame = tuple[int, "str | bytes"]


def valid_close_code(code: int) -> bool:
    """Whether a close frame may carry `code`: 1000-1003, 1007-1014 (1012-1014 are registered
    with IANA since RFC 6455) or 3000-4999; never 1004-1006 and 1015 (reserved, or only for
    reporting), nor anything else."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_reply(payload: bytes) -> int:
    """The status code to answer a valid close frame with: its own code echoed, 1000 if it had none."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NORMAL_CLOSURE


class FrameReader:
    """Parses the frames a server sends; one instance per connection."""

    __slots__ = (
        "max_message_bytes",
        "error",
        "close_code",
        "_held",
        "_held_size",
        "_needed",
        "_parts",
        "_parts_opcode",
        "_parts_size",
        "_decoder",
        "_ended",
        "inflater",
        "payload_bytes",
        "_compressed",
    )

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES, inflater: Inflater | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        #: Inflates compressed messages once permessage-deflate was negotiated (None: RSV1 is an error).
        self.inflater = inflater
        #: Bytes of the data messages given out so far (inflated, before decoding).
        self.payload_bytes = 0
        self._compressed = False  # the fragmented message in progress is compressed
        #: What violated the protocol, or None; once set (or once a close frame came), `feed`
        #: returns nothing more.
        self.error: str | None = None
        #: The status code to fail the connection with, once `error` is set.
        self.close_code = PROTOCOL_ERROR
        self._held: list[bytes] = []  # the bytes of an incomplete frame
        self._held_size = 0
        self._needed = 0  # bytes to hold before that frame can be complete
        self._parts: list[str] | list[bytes] | None = None  # the fragments of an unfinished message
        self._parts_opcode = 0
        self._parts_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None  # of a fragmented text message
        self._ended = False  # a close frame came: nothing after it is read

    def feed(self, data: bytes) -> list[_Frame]:
        """The messages and control frames that `data` completes, in order."""
        if self.error is not None or self._ended:
            return []
        if self._held:
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size < self._needed:
                return []
            data = b"".join(self._held)
            self._held, self._held_size = [], 0
        out: list[_Frame] = []
        pos, end = 0, len(data)
        while pos < end:
            if end - pos < 2:
                return self._hold(data, pos, 2, out)
            first, second = data[pos], data[pos + 1]
            length, start = second & 0x7F, pos + 2
            opcode = first & 0x0F
            if length > 125:
                if opcode & 0x8:  # a control frame over 125 bytes: fail before its payload comes
                    return self._fail(f"a control frame of over 125 bytes (opcode {opcode:#x})", out)
                start += 2 if length == 126 else 8
                if start > end:
                    return self._hold(data, pos, start - pos, out)
                length = int.from_bytes(data[pos + 2 : start], "big")
            if first & _RESERVED or second & _MASKED or length > self.max_message_bytes:
                if first & _RESERVED != _RSV1 or self.inflater is None or second & _MASKED:
                    return self._header_error(first, second, opcode, length, out)
                if length > self.max_message_bytes:
                    return self._header_error(first & ~_RSV1, second, opcode, length, out)
                stop = start + length
                if stop > end:
                    return self._hold(data, pos, stop - pos, out)
                pos = stop
                compressed = self._compressed_start(first & _FIN, opcode, data[start:stop], out)
                if compressed is not None:
                    return self._fail(compressed[0], out, compressed[1])
                continue
            stop = start + length
            if stop > end:
                return self._hold(data, pos, stop - pos, out)
            pos = stop
            if first & _FIN and self._parts is None and opcode == OPCODE_TEXT:  # the usual case
                try:
                    out.append((OPCODE_TEXT, data[start:stop].decode()))
                except UnicodeDecodeError:
                    return self._fail("invalid UTF-8 in a text message", out, INVALID_PAYLOAD)
                self.payload_bytes += length
            elif first & _FIN and self._parts is None and opcode == OPCODE_BINARY:
                out.append((OPCODE_BINARY, data[start:stop]))
                self.payload_bytes += length
            else:
                problem = self._unusual(first & _FIN, opcode, data[start:stop], out)
                if problem is not None:
                    what, code = problem if isinstance(problem, tuple) else (problem, PROTOCOL_ERROR)
                    return self._fail(what, out, code)
                if opcode == OPCODE_CLOSE:
                    self._ended, self._held = True, []
                    return out
        return out

    def _hold(self, data: bytes, pos: int, needed: int, out: list[_Frame]) -> list[_Frame]:
        """Keep `data[pos:]`, an incomplete frame that needs `needed` bytes in all."""
        rest = data[pos:]
        self._held, self._held_size, self._needed = [rest], len(rest), needed
        return out

    def _fail(self, problem: str, out: list[_Frame], code: int = PROTOCOL_ERROR) -> list[_Frame]:
        self.error, self.close_code = problem, code
        self._held, self._held_size, self._parts, self._decoder = [], 0, None, None
        self._compressed = False
        return out

    def _compressed_start(self, fin: int, opcode: int, payload: bytes, out: list[_Frame]) -> tuple[str, int] | None:
        """The first frame of a compressed message (RSV1 set, an inflater present): the message
        when `fin`, else the start of its fragments. The violation and its close code, if any."""
        if opcode not in _DATA:
            what = {OPCODE_CONTINUATION: "a continuation frame"}.get(opcode, f"a frame of opcode {opcode:#x}")
            return f"RSV1 set on {what} (only a message's first frame may be compressed)", PROTOCOL_ERROR
        if self._parts is not None:
            return "a new message before the fragmented one ended", PROTOCOL_ERROR
        if fin:
            return self._inflated(opcode, payload, out)
        self._parts, self._parts_opcode, self._parts_size, self._compressed = [payload], opcode, len(payload), True
        return None

    def _inflated(self, opcode: int, payload: bytes, out: list[_Frame]) -> tuple[str, int] | None:
        """Inflate a whole compressed message into `out`; the violation, if any."""
        assert self.inflater is not None
        try:
            data = self.inflater.inflate(payload)
        except InflateError as exc:
            return str(exc), INVALID_PAYLOAD
        except TooBig as exc:
            return str(exc), MESSAGE_TOO_BIG
        if opcode == OPCODE_TEXT:
            try:
                out.append((OPCODE_TEXT, data.decode()))
            except UnicodeDecodeError:
                return "invalid UTF-8 in a compressed text message", INVALID_PAYLOAD
        else:
            out.append((OPCODE_BINARY, data))
        self.payload_bytes += len(data)
        return None

    def _header_error(self, first: int, second: int, opcode: int, length: int, out: list[_Frame]) -> list[_Frame]:
        if first & _RESERVED:
            return self._fail(f"reserved bits {first & _RESERVED:#04x} set without an extension", out)
        if second & _MASKED:
            return self._fail("a masked frame from the server", out)
        if length >= 1 << 63:
            return self._fail("a 64-bit length with its most significant bit set", out)
        limit = self.max_message_bytes
        return self._fail(f"a message of {length:,} bytes, over the limit of {limit:,}", out, MESSAGE_TOO_BIG)

    def _unusual(self, fin: int, opcode: int, payload: bytes, out: list[_Frame]) -> str | tuple[str, int] | None:
        """A control frame or a fragment: add what it completes to `out`; the violation, if any
        (with its close code when that is not 1002)."""
        if opcode in _CONTROL:
            if not fin:
                return f"a fragmented control frame (opcode {opcode:#x})"
            if opcode == OPCODE_CLOSE:
                problem = _close_problem(payload)
                if problem is not None:
                    return problem
            out.append((opcode, payload))
            return None
        if opcode in _DATA:
            if self._parts is not None:
                return "a new message before the fragmented one ended"
            self._parts, self._parts_opcode, self._parts_size = [], opcode, 0
            if opcode == OPCODE_TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        elif opcode != OPCODE_CONTINUATION:
            return f"reserved opcode {opcode:#x}"
        elif self._parts is None:
            return "a continuation frame outside a fragmented message"
        self._parts_size += len(payload)
        if self._parts_size > self.max_message_bytes:
            return f"a fragmented message over the limit of {self.max_message_bytes:,} bytes", MESSAGE_TOO_BIG
        return self._fragment(fin, payload, out)

    def _fragment(self, fin: int, payload: bytes, out: list[_Frame]) -> tuple[str, int] | None:
        """Add a data fragment (the first or a continuation); emit the message at its last."""
        parts, decoder = self._parts, self._decoder
        assert parts is not None
        if self._compressed:  # joined and inflated at the last fragment
            parts.append(payload)  # type: ignore[arg-type]
            if not fin:
                return None
            self._parts, self._compressed = None, False
            return self._inflated(self._parts_opcode, b"".join(parts), out)  # type: ignore[arg-type]
        if decoder is not None:
            try:
                parts.append(decoder.decode(payload, final=bool(fin)))  # type: ignore[arg-type]
            except UnicodeDecodeError:
                return "invalid UTF-8 in a fragmented text message", INVALID_PAYLOAD
        else:
            parts.append(payload)  # type: ignore[arg-type]
        if fin:
            joined: str | bytes = "".join(parts) if decoder is not None else b"".join(parts)  # type: ignore[arg-type]
            out.append((self._parts_opcode, joined))
            self.payload_bytes += self._parts_size
            self._parts, self._decoder = None, None
        return None


def _close_problem(payload: bytes) -> str | tuple[str, int] | None:
    """What is wrong with a close frame's payload, if anything (RFC 6455 section 5.5.1)."""
    if not payload:
        return None
    if len(payload) == 1:
        return "a close frame with a one-byte payload"
    code = int.from_bytes(payload[:2], "big")
    if not valid_close_code(code):
        return f"a close frame with the invalid code {code}"
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        return "invalid UTF-8 in a close reason", INVALID_PAYLOAD
    return None
