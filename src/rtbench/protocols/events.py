"""Events a protocol adapter produces from the frames or bytes it receives.

Every adapter, whatever its wire format, speaks in these events, so the load layer never looks at
raw frames. They are frozen, slotted dataclasses: cheap to build on the hot path and safe to share.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SessionReady",
    "Token",
    "Done",
    "PersonaChanged",
    "Resumed",
    "Error",
    "Event",
    "BINARY_FRAME",
    "MALFORMED_FRAME",
    "UNKNOWN_FRAME_TYPE",
    "BAD_FIELD",
    "SEQ_GAP",
    "CONFIG_MISMATCH",
]

# Codes of the `Error` events adapters raise themselves (server error codes pass through as sent).
#: A binary frame where the protocol only sends text.
BINARY_FRAME = "binary_frame"
#: The frame is not valid JSON, or not a JSON object.
MALFORMED_FRAME = "malformed_frame"
#: The frame's `type` is missing or unknown.
UNKNOWN_FRAME_TYPE = "unknown_frame_type"
#: A required field is missing or has the wrong type.
BAD_FIELD = "bad_field"
#: Sequence numbers skipped one or more frames: some content was lost.
SEQ_GAP = "seq_gap"
#: The scenario's protocol settings cannot match what the server sends (for example a selector
#: that matched nothing in a whole response): the run stops with the message as a one-line error.
CONFIG_MISMATCH = "config_mismatch"


@dataclass(frozen=True, slots=True)
class SessionReady:
    """The server accepted the connection and opened a session."""

    #: The server's id for the session.
    session_id: str
    #: The token to present in a `resume` after a dropped connection ("" if the protocol has none).
    resume_token: str
    #: The persona the session starts with, if the protocol names one.
    persona: str | None


@dataclass(frozen=True, slots=True)
class Token:
    """A frame of response content: one or more tokens of one turn."""

    #: The client's turn id this content belongs to.
    turn_id: str
    #: The content text carried by the frame.
    text: str
    #: How many tokens the frame carries (1 when the protocol does not say).
    count: int
    #: The per-session sequence number, or None if the protocol has none.
    seq: int | None
    #: The server's wall clock when it sent the frame, in seconds, or None if not given.
    server_ts: float | None
    #: True for reasoning content ("thinking" a reasoning model streams before its answer).
    reasoning: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """The end of a turn's response."""

    #: The client's turn id that finished.
    turn_id: str
    #: The per-session sequence number, or None if the protocol has none.
    seq: int | None
    #: Output tokens as reported by the server's usage block, or None if it reported none.
    output_tokens: int | None
    #: Input tokens as reported by the server's usage block, or None if it reported none.
    input_tokens: int | None
    #: The server's wall clock when it sent the frame, in seconds, or None if not given.
    server_ts: float | None
    #: The persona that generated the response, if the protocol says.
    persona: str | None = None


@dataclass(frozen=True, slots=True)
class PersonaChanged:
    """A persona switch has taken effect on the server."""

    #: The persona now in effect.
    persona: str
    #: The per-session sequence number, or None if the protocol has none.
    seq: int | None


@dataclass(frozen=True, slots=True)
class Resumed:
    """A resume was accepted; the frames the client missed follow, in order."""

    #: The id of the re-attached session.
    session_id: str
    #: The last sequence number the server considers delivered; replay starts after it.
    last_seq: int
    #: How many missed frames the server is about to replay.
    replayed: int


@dataclass(frozen=True, slots=True)
class Error:
    """Something went wrong: an error frame from the server, or a frame the adapter rejected."""

    #: A short machine-readable code (the server's code, or one of the adapter's own codes).
    code: str
    #: A human-readable description.
    message: str
    #: The turn the error concerns, or None if it concerns the session.
    turn_id: str | None
    #: True if the connection is closed or unusable because of this error.
    fatal: bool


#: Any event an adapter can produce.
Event = SessionReady | Token | Done | PersonaChanged | Resumed | Error
