"""A sans-I/O, incremental Server-Sent Events parser (the WHATWG "event stream interpretation").

Feed it the response body in pieces of any size; it returns the events completed by each piece:

    parser = SseParser()
    for chunk in body_chunks:
        for event in parser.feed(chunk):
            handle(event.data)

Lines end with CR, LF or CRLF (a CRLF split between two pieces counts once); a UTF-8 byte order
mark at the very start is dropped; `data:` lines join with "\\n"; one space after the colon is
stripped; lines starting with ":" are comments; a blank line dispatches the event, and an event
without data is not dispatched. `id` persists across events (and is ignored if it contains NUL);
`retry` sets `SseParser.retry` when it is all ASCII digits. A last event without its blank line
is never dispatched, as the standard says for a stream that ends.

(httpx-sse's decoder was considered: it takes decoded lines, not bytes, so the line splitting,
the BOM and the CR/LF split across pieces would still be ours; it dispatches events that carry no
data; it is private API, and the package pulls in httpx.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseEvent", "SseParser"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event."""

    #: The data lines joined with "\n" (decoded as UTF-8; invalid bytes become U+FFFD).
    data: str
    #: The `event:` field, "message" when the event had none.
    event: str = "message"
    #: The last event id seen on the stream so far ("" if none).
    id: str = ""


class SseParser:
    """Incremental parser for one event stream (use a new parser for a new response)."""

    __slots__ = ("retry", "_tail", "_skip_lf", "_at_start", "_data", "_event", "_id")

    def __init__(self) -> None:
        #: The reconnection time the stream asked for with `retry:`, in ms (None if never).
        self.retry: int | None = None
        self._tail = b""  # an unterminated line, waiting for its end
        self._skip_lf = False  # the last piece ended in CR: a leading LF of the next ends nothing
        self._at_start = True  # the BOM check is still pending
        self._data: list[bytes] = []
        self._event = ""
        self._id = ""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by `chunk`, the next piece of the stream."""
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
        buffer = self._tail + chunk if self._tail else chunk
        if self._at_start:
            if len(buffer) < 3 and _BOM.startswith(buffer):
                self._tail = buffer  # maybe a BOM still arriving
                return []
            self._at_start = False
            if buffer.startswith(_BOM):
                buffer = buffer[3:]
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._tail = lines.pop()
        events: list[SseEvent] = []
        for line in lines:
            if line:
                self._field(line)
            elif self._data:
                events.append(self._dispatch())
            else:
                self._event = ""  # a blank line without data resets the event type only
        return events

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ":" starts a comment
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value.isdigit():  # bytes.isdigit: ASCII digits only, as the standard requires
                self.retry = int(value)

    def _dispatch(self) -> SseEvent:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SseEvent(data.decode("utf-8", "replace"), self._event or "message", self._id)
        self._data = []
        self._event = ""
        return event
