"""Counting tokens: the `TokenCounter` protocol and the reference server's word rule."""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["TokenCounter", "WordCounter"]


class TokenCounter(Protocol):
    """Counts the tokens of a text, and says how (`method`)."""

    method: Literal["tokenizer", "estimate"]

    def count(self, text: str) -> int:
        """The tokens of `text`."""
        ...


class WordCounter:
    """One whitespace-separated word is one token: the reference server's rule."""

    method: Literal["tokenizer", "estimate"] = "estimate"

    def count(self, text: str) -> int:
        return len(text.split())
