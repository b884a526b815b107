"""Checked reads of the values a target sends, shared by the adapters.

A target may be buggy or hostile: a count may come as a string, a negative or a 31-digit number, a
code as an object, an id as a list. These helpers accept only what the accounting can use, and
raise `BadField` (a `ValueError`) otherwise, which each adapter turns into a `bad_field` `Error` of
the turn, never a traceback, never a count that makes the sums wrong.
"""

from __future__ import annotations

__all__ = ["BadField", "MAX_COUNT", "MESSAGE_LIMIT", "count_or_none", "frame_count", "code_of", "text_of"]

#: The largest token count accepted in a usage block or a frame (no turn has a billion tokens).
MAX_COUNT = 1_000_000_000
#: The most characters of a server's error message kept in an `Error`.
MESSAGE_LIMIT = 200
#: The most characters of a server's error code kept (counter names are cut shorter still).
_CODE_LIMIT = 200


class BadField(ValueError):
    """A field of a frame has a value the protocol does not allow."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def count_or_none(value: object, what: str) -> int | None:
    """A reported count: None when absent (None), else an int from 0 to `MAX_COUNT`."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise BadField(f"{what} must be a whole number from 0 to {MAX_COUNT:,}, not {_shown(value)}")
    return value


def frame_count(value: object, what: str) -> int:
    """The token count of one content frame: an int from 1 to `MAX_COUNT`."""
    if type(value) is not int or not 1 <= value <= MAX_COUNT:
        raise BadField(f"{what} must be a whole number from 1 to {MAX_COUNT:,}, not {_shown(value)}")
    return value


def code_of(value: object) -> str | None:
    """A server's error code as text: a non-empty string (cut to a bounded length) or an int;
    None for anything else (absent, empty, an object, a list, a bool)."""
    if type(value) is str and value:
        return value[:_CODE_LIMIT]
    if type(value) is int:
        return str(value) if -(10**18) < value < 10**18 else None
    return None


def text_of(value: object, limit: int = MESSAGE_LIMIT) -> str:
    """A server's message as one bounded line: a string's words, anything else's repr."""
    text = " ".join((value if type(value) is str else repr(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
