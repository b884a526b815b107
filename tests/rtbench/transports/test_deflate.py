"""permessage-deflate's pure parts: the offer, the server's answer (RFC 7692 section 7.1), and
each message's inflate and deflate against zlib as other implementations use it."""

from __future__ import annotations

import zlib

import pytest

from rtbench.transports.deflate import (
    TAIL,
    DeflateOffer,
    Deflater,
    InflateError,
    Inflater,
    Negotiated,
    NegotiationError,
    TooBig,
    accept,
    offer_header,
    parse_extensions,
)

BROWSER = DeflateOffer()


def server_deflate(messages: list[bytes], bits: int = 15, takeover: bool = True) -> list[bytes]:
    """What a server sends: each message deflated (sync flush, tail removed), one context or not."""
    out, compressor = [], zlib.compressobj(wbits=-bits)
    for message in messages:
        if not takeover:
            compressor = zlib.compressobj(wbits=-bits)
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TAIL)
        out.append(data[:-4])
    return out


def test_the_offer_is_a_browsers_unless_asked_otherwise() -> None:
    assert offer_header(BROWSER) == "permessage-deflate; client_max_window_bits"
    offer = DeflateOffer(12, 10, True, True)
    assert offer_header(offer) == (
        "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10; "
        "client_no_context_takeover; server_no_context_takeover"
    )
    with pytest.raises(ValueError, match="client_max_window_bits"):
        DeflateOffer(client_max_window_bits=8)  # zlib cannot compress with 8 bits
    with pytest.raises(ValueError, match="server_max_window_bits"):
        DeflateOffer(server_max_window_bits=16)


@pytest.mark.parametrize(
    ("offer", "answer", "negotiated"),
    [
        (BROWSER, None, None),  # declined: no header
        (BROWSER, "", None),
        (BROWSER, "permessage-deflate", Negotiated()),
        (BROWSER, "permessage-deflate; client_max_window_bits=10", Negotiated(client_max_window_bits=10)),
        (BROWSER, "Permessage-Deflate; server_max_window_bits=9", Negotiated(server_max_window_bits=9)),
        (BROWSER, "permessage-deflate; server_no_context_takeover", Negotiated(server_no_context_takeover=True)),
        (BROWSER, 'permessage-deflate; client_max_window_bits="11"', Negotiated(client_max_window_bits=11)),
        # a server may ask the client to drop its context even unasked (RFC 7692 7.1.1.2)
        (BROWSER, "permessage-deflate; client_no_context_takeover", Negotiated(client_no_context_takeover=True)),
        (DeflateOffer(server_max_window_bits=15), "permessage-deflate", Negotiated()),  # aiohttp omits 15
        (DeflateOffer(12, 10), "permessage-deflate; server_max_window_bits=9", Negotiated(9, 12)),
        (DeflateOffer(client_no_context_takeover=True), "permessage-deflate", Negotiated(15, 15, False, True)),
    ],
)
def test_answers_the_offer_allows(offer: DeflateOffer, answer: str | None, negotiated: Negotiated | None) -> None:
    assert accept(offer, answer) == negotiated


@pytest.mark.parametrize(
    ("offer", "answer", "why"),
    [
        (BROWSER, "permessage-deflate; foo=1", "not offered: foo"),
        (BROWSER, "x-webkit-deflate-frame", "not offered: x-webkit-deflate-frame"),
        (BROWSER, "permessage-deflate, permessage-deflate", "not offered"),
        (BROWSER, "permessage-deflate; server_max_window_bits=16", "8 to 15 bits"),
        (BROWSER, "permessage-deflate; server_max_window_bits", "8 to 15 bits"),
        (BROWSER, "permessage-deflate; client_max_window_bits=8", "zlib cannot"),
        (BROWSER, "permessage-deflate; server_no_context_takeover=1", "with a value"),
        (BROWSER, "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", "twice"),
        (BROWSER, "permessage-deflate; =", "malformed"),
        (DeflateOffer(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=12", "over 10"),
        (DeflateOffer(server_max_window_bits=10), "permessage-deflate", "without the server_max_window_bits=10"),
        (DeflateOffer(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=12", "over 10"),
        (DeflateOffer(server_no_context_takeover=True), "permessage-deflate", "server_no_context_takeover"),
    ],
)
def test_answers_the_offer_does_not_allow_fail_in_one_line(offer: DeflateOffer, answer: str, why: str) -> None:
    with pytest.raises(NegotiationError, match=why) as excinfo:
        accept(offer, answer)
    assert "\n" not in str(excinfo.value)


def test_extension_headers_parse_quoted_values_and_several_extensions() -> None:
    assert parse_extensions('a; x="1,2"; y, b') == [("a", [("x", "1,2"), ("y", None)]), ("b", [])]


@pytest.mark.parametrize("takeover", [True, False])
def test_inflate_follows_the_servers_context(takeover: bool) -> None:
    messages = [b'{"type":"token","text":"tok%d "}' % i for i in range(5)]
    payloads = server_deflate(messages, takeover=takeover)
    inflater = Inflater(Negotiated(server_no_context_takeover=not takeover), 1 << 20)
    assert [inflater.inflate(p) for p in payloads] == messages
    if takeover:  # the later messages refer back to the first: smaller than it, and only with its context
        assert len(payloads[1]) < len(payloads[0])
        with pytest.raises(InflateError):
            Inflater(Negotiated(), 1 << 20).inflate(payloads[1])


def test_a_corrupt_stream_and_a_bomb_are_errors_not_output() -> None:
    inflater = Inflater(Negotiated(), 1000)
    with pytest.raises(InflateError, match="did not inflate"):
        inflater.inflate(b"\xff\xff\xff\xff")
    bomb = server_deflate([b"\0" * 1_000_000])[0]
    with pytest.raises(TooBig, match="1,000"):
        Inflater(Negotiated(), 1000).inflate(bomb)


@pytest.mark.parametrize(
    "negotiated", [Negotiated(), Negotiated(client_max_window_bits=9, client_no_context_takeover=True)]
)
def test_deflate_is_what_a_server_inflates(negotiated: Negotiated) -> None:
    """Deflated as browsers do: the tail removed, and a server's inflater (one context, the tail put
    back) reads every message; without context takeover each one inflates on its own too."""
    deflater = Deflater(negotiated)
    messages = [b'{"type":"prompt","id":"t%d","text":"hello there"}' % i for i in range(4)] + [b""]
    payloads = [deflater.deflate(m) for m in messages]
    assert not any(p.endswith(TAIL) for p in payloads[:-1])
    server = zlib.decompressobj(wbits=-negotiated.client_max_window_bits)
    assert [server.decompress(p + TAIL) for p in payloads] == messages
    if negotiated.client_no_context_takeover:
        assert [zlib.decompressobj(wbits=-9).decompress(p + TAIL) for p in payloads] == messages
    else:
        assert len(payloads[1]) < len(payloads[0])
