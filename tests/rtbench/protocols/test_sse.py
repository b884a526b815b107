"""SseParser: the WHATWG event-stream rules on literal bytes, fed whole and split at every byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rtbench.protocols.sse import SseEvent, SseParser


def feed_all(pieces: list[bytes]) -> tuple[list[SseEvent], SseParser]:
    parser = SseParser()
    events = [event for piece in pieces for event in parser.feed(piece)]
    return events, parser


def parse(stream: bytes) -> list[SseEvent]:
    return feed_all([stream])[0]


def assert_any_split(stream: bytes, expected: list[SseEvent]) -> None:
    """Whole, byte by byte, and cut in two at every position: the same events."""
    assert parse(stream) == expected
    assert feed_all([stream[i : i + 1] for i in range(len(stream))])[0] == expected
    for cut in range(len(stream) + 1):
        assert feed_all([stream[:cut], stream[cut:]])[0] == expected, f"cut at {cut}"


def test_data_events_dispatch_on_a_blank_line() -> None:
    assert_any_split(b"data: one\n\ndata: two\n\n", [SseEvent("one"), SseEvent("two")])


def test_an_event_waits_for_its_blank_line() -> None:
    parser = SseParser()
    assert parser.feed(b"data: one\n") == []
    assert parser.feed(b"\n") == [SseEvent("one")]


def test_cr_lf_and_crlf_line_ends_mixed() -> None:
    stream = b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\ndata: e\r\r\n"
    # the final "\r\r\n" is CR (end of line "data: e"), then CRLF (the blank line)
    expected = [SseEvent("a"), SseEvent("b"), SseEvent("c"), SseEvent("d\ne")]
    assert_any_split(stream, expected)


def test_a_crlf_split_between_pieces_ends_one_line() -> None:
    events, _ = feed_all([b"data: x\r", b"\ndata: y\r", b"\n\r", b"\n"])
    assert events == [SseEvent("x\ny")]


def test_multi_line_data_joins_with_newlines() -> None:
    assert_any_split(b"data: first\ndata:second\ndata\ndata:  indented\n\n", [SseEvent("first\nsecond\n\n indented")])


def test_only_one_leading_space_is_stripped() -> None:
    assert parse(b"data:  two spaces\n\n") == [SseEvent(" two spaces")]
    assert parse(b"data:no space\n\n") == [SseEvent("no space")]


def test_comments_are_ignored() -> None:
    assert_any_split(b": keepalive\n:\ndata: x\n: between\n\n", [SseEvent("x")])


def test_a_blank_line_without_data_dispatches_nothing() -> None:
    assert parse(b"\n\n: comment\n\nevent: ping\n\n") == []
    # the event type of an event without data does not leak into the next
    assert parse(b"event: ping\n\ndata: x\n\n") == [SseEvent("x", "message")]


def test_empty_data_is_an_event() -> None:
    assert parse(b"data\n\ndata:\n\n") == [SseEvent(""), SseEvent("")]


def test_event_type_and_id() -> None:
    stream = b"event: delta\nid: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"
    expected = [SseEvent("a", "delta", "7"), SseEvent("b", "message", "7"), SseEvent("c", "message", "")]
    assert_any_split(stream, expected)


def test_an_id_with_nul_is_ignored() -> None:
    assert parse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [SseEvent("a", id="1"), SseEvent("b", id="1")]


def test_retry_takes_ascii_digits_only() -> None:
    _, parser = feed_all([b"retry: 1500\n\n"])
    assert parser.retry == 1500
    for bad in (b"retry: -5\n", b"retry: 1.5\n", b"retry: \xd9\xa3\n", b"retry:\n", b"retry: 10 \n"):
        parser.feed(bad)
        assert parser.retry == 1500, bad
    assert SseParser().retry is None


def test_unknown_fields_are_ignored() -> None:
    assert parse(b"foo: bar\ndata: x\nDATA: y\n\n") == [SseEvent("x")]


def test_a_leading_bom_is_dropped_once() -> None:
    bom = b"\xef\xbb\xbf"
    assert_any_split(bom + b"data: x\n\n", [SseEvent("x")])
    # a second BOM is part of the line: a field named "\ufeffdata", ignored
    assert parse(bom + bom + b"data: x\n\ndata: y\n\n") == [SseEvent("y")]


def test_utf8_split_inside_a_character() -> None:
    stream = "data: h\u00e9llo \u2603\n\n".encode()
    assert_any_split(stream, [SseEvent("h\u00e9llo \u2603")])


def test_invalid_utf8_is_replaced() -> None:
    assert parse(b"data: a\xffb\n\n") == [SseEvent("a\ufffdb")]


def test_an_unterminated_last_event_is_not_dispatched() -> None:
    assert parse(b"data: x\n\ndata: y\n") == [SseEvent("x")]
    assert parse(b"data: x") == []


def test_openai_stream_whole_and_split() -> None:
    stream = (
        b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\r\n\r\n'
        b'data: {"choices":[{"delta":{"content":"tok0 "}}]}\r\n\r\n'
        b": OPENROUTER PROCESSING\r\n\r\n"
        b"data: [DONE]\r\n\r\n"
    )
    events = [e.data for e in parse(stream)]
    assert events == [
        '{"choices":[{"delta":{"role":"assistant","content":""}}]}',
        '{"choices":[{"delta":{"content":"tok0 "}}]}',
        "[DONE]",
    ]
    assert_any_split(stream, parse(stream))


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=20),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([b"\n", b"\r", b"\r\n"]),
    st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_any_data_any_line_end_any_split(lines: list[str], eol: bytes, cuts: list[int]) -> None:
    stream = b"".join(b"data:" + line.encode() + eol for line in lines) + eol
    expected = [SseEvent("\n".join(line[1:] if line.startswith(" ") else line for line in lines))]
    points = sorted({min(cut, len(stream)) for cut in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=False)]
    assert feed_all(pieces)[0] == expected
