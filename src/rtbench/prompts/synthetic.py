"""Synthetic prompts sized in tokens, cut from a corpus (Shakespeare's Sonnets by default).

Each `text` starts with a short tag drawn at random (ten hex digits), so that no two prompts
share a prefix a server could have cached, and goes on from a random place in the corpus
(wrapping at its end). `prefix` is the same text for every user of a run with the same seed, in
every process: the shared system prefix of `prefix_tokens`. Both are exactly the number of tokens
asked for by the counter (one a word by default; with a tokenizer, by it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rtbench.prompts.corpus import corpus_words
from rtbench.prompts.tokens import TokenCounter, WordCounter

__all__ = ["SyntheticText", "TAG_BITS"]

#: The random tag that opens each prompt: this many bits, as hex.
TAG_BITS = 40
#: A bound on the words tried for one prompt, for a tokenizer that packs many words in a token.
_MAX_WORDS_PER_TOKEN = 64


class SyntheticText:
    """Passages of exactly N tokens (by `counter`), cut from `words` (the corpus by default)."""

    __slots__ = ("_words", "counter")

    def __init__(self, words: Sequence[str] | None = None, counter: TokenCounter | None = None) -> None:
        self._words = tuple(words) if words is not None else corpus_words()
        if not self._words:
            raise ValueError("a corpus of at least one word")
        self.counter: TokenCounter = counter or WordCounter()

    def text(self, tokens: int, rng: random.Random) -> str:
        """A prompt of exactly `tokens` tokens: a random tag, then the corpus from a random word."""
        tag = f"{rng.getrandbits(TAG_BITS):0{TAG_BITS // 4}x}"
        start = rng.randrange(len(self._words))
        if self.counter.count(tag) >= tokens:  # too short for a tag: the passage alone
            return self._passage(start, tokens, "")
        return self._passage(start, tokens, tag)

    def prefix(self, tokens: int, seed: int | None) -> str:
        """The shared prefix of a run: exactly `tokens` tokens, the same for every user and process
        given the same `seed` (None: a fixed one); "" for 0 tokens."""
        if tokens <= 0:
            return ""
        start = random.Random(f"rtbench-prefix:{seed}").randrange(len(self._words))
        return self._passage(start, tokens, "")

    def _passage(self, start: int, tokens: int, head: str) -> str:
        """`head`, then words from `start` on (wrapping), cut to exactly `tokens` tokens."""
        counter = self.counter
        words = self._words
        if isinstance(counter, WordCounter):  # one token a word: no need to count
            need = tokens - (1 if head else 0)
            picked = [words[(start + i) % len(words)] for i in range(need)]
            return " ".join([head, *picked] if head else picked)
        taken = max(tokens, 8)
        while True:  # enough words to hold `tokens` (a word is about a token or more), then cut
            picked = [words[(start + i) % len(words)] for i in range(taken)]
            text = " ".join([head, *picked] if head else picked)
            cut = counter.head(text, tokens)
            if len(cut) < len(text) or taken > _MAX_WORDS_PER_TOKEN * tokens:
                return cut
            taken *= 2
