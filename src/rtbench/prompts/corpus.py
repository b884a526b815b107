"""The text synthetic prompts are cut from: Shakespeare's Sonnets (1609, public domain), shipped
as package data (`sonnets.txt`; its first line, a `#` comment, says so and is skipped)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["CORPUS_FILE", "corpus_words"]

CORPUS_FILE = "sonnets.txt"


@cache
def corpus_words() -> tuple[str, ...]:
    """The corpus's whitespace-separated words, in order (read once)."""
    text = files("rtbench.prompts").joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    lines = (line for line in text.splitlines() if not line.startswith("#"))
    return tuple(word for line in lines for word in line.split())
