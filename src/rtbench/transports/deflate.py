"""permessage-deflate (RFC 7692), sans-I/O: the offer, the server's answer, and each message's
inflate and deflate.

`DeflateOffer` is what the client asks for (`offer_header` writes it as browsers do:
`permessage-deflate; client_max_window_bits`, plus whatever the scenario set). `accept` reads the
server's `Sec-WebSocket-Extensions` answer: None when the server declined (no compression), the
`Negotiated` parameters when it accepted, and a `NegotiationError` (one line) when the answer is
not one the offer allows: an extension or a parameter that was not offered, a window larger than
offered, a malformed value, `server_max_window_bits` missing although a smaller one was asked.

`Inflater` turns the payload of a compressed message (RSV1 set on its first frame) back into its
bytes: raw deflate (negative wbits) with the `00 00 ff ff` tail the sender removed put back, one
zlib context for the connection unless the server resets it after each message
(`server_no_context_takeover`). A corrupt stream is an `InflateError`; an output over the limit
is a `TooBig` (a deflate bomb is cut off there, never inflated whole). `Deflater` compresses each
outgoing message as browsers do: sync flush, the tail removed, the context kept unless
`client_no_context_takeover` was negotiated (then each message is flushed fully).

Memory: zlib's state is per connection, and measured resident it is about 86 KB to deflate (zlib's
default memLevel 8, as Chromium uses; memLevel 1 would hold 16 KB and gave the same bytes for
chat-sized prompts, 4% more for 25 KB ones) and 9 KB to inflate, on top of a session's ~17 KB.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

__all__ = [
    "EXTENSION",
    "TAIL",
    "MIN_CLIENT_BITS",
    "DeflateOffer",
    "Negotiated",
    "NegotiationError",
    "InflateError",
    "TooBig",
    "Inflater",
    "Deflater",
    "offer_header",
    "parse_extensions",
    "accept",
]

EXTENSION = "permessage-deflate"
#: What a sync flush ends with, removed by the sender of each compressed message (RFC 7692 7.2.1).
TAIL = b"\x00\x00\xff\xff"
_MIN_BITS, _MAX_BITS = 8, 15
#: The smallest window zlib compresses with (it refuses 8 bits for raw deflate: madler/zlib#171).
MIN_CLIENT_BITS = 9
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PARAMS = (
    "client_max_window_bits",
    "server_max_window_bits",
    "client_no_context_takeover",
    "server_no_context_takeover",
)


class NegotiationError(ValueError):
    """The server's answer to the offer breaks RFC 7692; the connection must fail."""


class InflateError(ValueError):
    """A compressed message did not inflate: a corrupt deflate stream."""


class TooBig(ValueError):
    """A compressed message inflates to more than the limit of one message."""


@dataclass(frozen=True, slots=True)
class DeflateOffer:
    """The extension as the client offers it.

    `client_max_window_bits` None offers the bare parameter (the server may choose our window, as
    browsers offer); `server_max_window_bits` None does not ask the server for a smaller window."""

    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False

    def __post_init__(self) -> None:
        for name, low in (("client_max_window_bits", MIN_CLIENT_BITS), ("server_max_window_bits", _MIN_BITS)):
            bits = getattr(self, name)
            if bits is not None and not (type(bits) is int and low <= bits <= _MAX_BITS):
                raise ValueError(f"{name} is a whole number from {low} to {_MAX_BITS}, not {bits!r}")


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What both sides use on a connection once the server accepted the offer."""

    server_max_window_bits: int = _MAX_BITS
    client_max_window_bits: int = _MAX_BITS
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False

    def header(self) -> str:
        """The parameters as a response header would state them (for reports and logs)."""
        parts = [EXTENSION]
        if self.server_max_window_bits != _MAX_BITS:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits != _MAX_BITS:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        parts += [name for name in _PARAMS[2:] if getattr(self, name)]
        return "; ".join(parts)


def offer_header(offer: DeflateOffer) -> str:
    """The `Sec-WebSocket-Extensions` value of the upgrade request."""
    parts = [EXTENSION]
    bits = offer.client_max_window_bits
    parts.append("client_max_window_bits" if bits is None else f"client_max_window_bits={bits}")
    if offer.server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={offer.server_max_window_bits}")
    parts += [name for name in _PARAMS[2:] if getattr(offer, name)]
    return "; ".join(parts)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_extensions(header: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """`Sec-WebSocket-Extensions` as [(extension, [(param, value or None)])] in order (RFC 6455
    section 9.1: tokens, values as tokens or quoted strings). Malformed: a `NegotiationError`."""
    out: list[tuple[str, list[tuple[str, str | None]]]] = []
    for item in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', header):
        name, *params = (part.strip() for part in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', item))
        if not _TOKEN.fullmatch(name):
            raise NegotiationError(f"a malformed Sec-WebSocket-Extensions header: {header!r}")
        parsed: list[tuple[str, str | None]] = []
        for param in params:
            key, eq, value = (piece.strip() for piece in param.partition("="))
            if not _TOKEN.fullmatch(key) or (eq and not value):
                raise NegotiationError(f"a malformed parameter {param!r} of {name}")
            parsed.append((key.lower(), _unquote(value) if eq else None))
        out.append((name.lower(), parsed))
    return out


def _bits(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or not _MIN_BITS <= int(value) <= _MAX_BITS:
        raise NegotiationError(f"the server answered {name}={value!r}: a window of {_MIN_BITS} to {_MAX_BITS} bits")
    return int(value)


def accept(offer: DeflateOffer, header: str | None) -> Negotiated | None:
    """The server's answer to `offer` (its `Sec-WebSocket-Extensions` value, None when absent):
    None when it declined, the `Negotiated` parameters when it accepted; a `NegotiationError`
    (one line) for an answer the offer does not allow."""
    if header is None or not header.strip():
        return None
    extensions = parse_extensions(header)
    if len(extensions) != 1 or extensions[0][0] != EXTENSION:
        names = ", ".join(name for name, _ in extensions)
        raise NegotiationError(f"the server answered extensions that were not offered: {names}")
    given: dict[str, str | None] = {}
    for key, value in extensions[0][1]:
        if key not in _PARAMS:
            raise NegotiationError(f"the server answered {EXTENSION} with a parameter that was not offered: {key}")
        if key in given:
            raise NegotiationError(f"the server answered {EXTENSION} with {key} twice")
        given[key] = value
    for flag in _PARAMS[2:]:
        if flag in given and given[flag] is not None:
            raise NegotiationError(f"the server answered {flag} with a value ({given[flag]!r})")
    server_bits = _MAX_BITS
    asked = offer.server_max_window_bits
    if "server_max_window_bits" in given:
        server_bits = _bits("server_max_window_bits", given["server_max_window_bits"])
        if asked is not None and server_bits > asked:
            raise NegotiationError(f"the server answered server_max_window_bits={server_bits}, over {asked} offered")
    elif asked is not None and asked < _MAX_BITS:
        raise NegotiationError(f"the server accepted {EXTENSION} without the server_max_window_bits={asked} offered")
    client_bits = offer.client_max_window_bits or _MAX_BITS
    if "client_max_window_bits" in given:
        client_bits = _bits("client_max_window_bits", given["client_max_window_bits"])
        limit = offer.client_max_window_bits
        if limit is not None and client_bits > limit:
            raise NegotiationError(f"the server answered client_max_window_bits={client_bits}, over {limit} offered")
        if client_bits < MIN_CLIENT_BITS:
            raise NegotiationError(f"the server answered client_max_window_bits={client_bits}: zlib cannot compress so")
    if offer.server_no_context_takeover and "server_no_context_takeover" not in given:
        raise NegotiationError(f"the server accepted {EXTENSION} without the server_no_context_takeover offered")
    return Negotiated(
        server_bits,
        client_bits,
        "server_no_context_takeover" in given,
        offer.client_no_context_takeover or "client_no_context_takeover" in given,
    )


class Inflater:
    """Inflates the compressed messages a server sends on one connection."""

    __slots__ = ("_wbits", "_takeover", "_zlib", "max_bytes")

    def __init__(self, negotiated: Negotiated, max_bytes: int) -> None:
        self._wbits = -negotiated.server_max_window_bits
        self._takeover = not negotiated.server_no_context_takeover
        self._zlib = zlib.decompressobj(wbits=self._wbits)
        #: The largest message it gives back.
        self.max_bytes = max_bytes

    def inflate(self, payload: bytes) -> bytes:
        """One message's bytes from its compressed payload (all its frames' payloads joined)."""
        inflater = self._zlib if self._takeover else zlib.decompressobj(wbits=self._wbits)
        try:
            data = inflater.decompress(payload + TAIL, self.max_bytes + 1)
        except zlib.error as exc:
            raise InflateError(f"a compressed message did not inflate: {exc}") from None
        if len(data) > self.max_bytes or inflater.unconsumed_tail:
            raise TooBig(f"a compressed message inflates to over {self.max_bytes:,} bytes")
        return data


class Deflater:
    """Compresses the messages a client sends on one connection, as browsers do."""

    __slots__ = ("_zlib", "_flush")

    def __init__(self, negotiated: Negotiated, level: int = zlib.Z_DEFAULT_COMPRESSION) -> None:
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, -negotiated.client_max_window_bits)
        self._flush = zlib.Z_FULL_FLUSH if negotiated.client_no_context_takeover else zlib.Z_SYNC_FLUSH

    def deflate(self, data: bytes) -> bytes:
        """The compressed payload of one message (the sync flush's tail removed)."""
        compressor = self._zlib
        out = compressor.compress(data) + compressor.flush(self._flush)
        return out[:-4] if out.endswith(TAIL) else out
