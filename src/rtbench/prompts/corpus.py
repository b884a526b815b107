"""The words synthetic prompts are cut from."""

from __future__ import annotations

from functools import cache

__all__ = ["corpus_words"]

_TEXT = """
Shall I compare thee to a summer's day? Thou art more lovely and more temperate: Rough winds do
shake the darling buds of May, And summer's lease hath all too short a date; Sometime too hot the
eye of heaven shines, And often is his gold complexion dimm'd; And every fair from fair sometime
declines, By chance or nature's changing course untrimm'd; But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st; Nor shall Death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st: So long as men can breathe or eyes can see, So long
lives this, and this gives life to thee.
"""


@cache
def corpus_words() -> tuple[str, ...]:
    """The corpus as words, in order (cached)."""
    return tuple(_TEXT.split())
