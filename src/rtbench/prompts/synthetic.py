"""Synthetic prompts of an exact token count, cut from a corpus at random offsets."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from rtbench.prompts.tokens import TokenCounter

__all__ = ["SyntheticText"]

_tags = itertools.count(1)


class SyntheticText:
    """Passages of `words` of an exact length by `counter`, each starting with a unique tag so
    that no two prompts share a cached prefix."""

    __slots__ = ("_words", "_counter")

    def __init__(self, words: Sequence[str], counter: TokenCounter) -> None:
        if not words:
            raise ValueError("a corpus of at least one word")
        self._words = tuple(words)
        self._counter = counter

    def text(self, tokens: int, rng: random.Random) -> str:
        """A passage of exactly `tokens` tokens (by the counter), from a random offset."""
        words = self._words
        start = rng.randrange(len(words))
        parts = [f"q{next(_tags)}-{rng.randrange(1 << 30):x}"]
        parts += [words[(start + i) % len(words)] for i in range(max(0, tokens - 1))]
        text = " ".join(parts)
        while self._counter.count(text) > tokens and len(parts) > 1:
            parts.pop()
            text = " ".join(parts)
        return text

    def prefix(self, tokens: int, seed: int) -> str:
        """The same passage of `tokens` tokens for every caller with `seed`."""
        words = self._words
        start = random.Random(seed).randrange(len(words))
        return " ".join(words[(start + i) % len(words)] for i in range(tokens))
