"""Counting tokens on the client side: a tokenizer when one is given, else an estimate.

`WordCounter` (method "estimate") counts one token per whitespace-separated word: the rule of the
reference server (`rtbench.protocols.context.count_tokens`, reference_server/PROTOCOL.md), and
only an estimate for a real model. `load_tokenizer` reads a Hugging Face `tokenizer.json` with the
`tokenizers` library (the optional extra `rtbench[tokenizer]`), and counts exactly what that
tokenizer gives a text, without special tokens or a chat template (the server's usage block adds
those). Each counter can also cut a text to a given number of tokens (`head`), which is how
synthetic prompts are made exactly that long.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from rtbench.errors import ConfigError

__all__ = ["CountMethod", "TokenCounter", "TokenizerCounter", "WordCounter", "load_tokenizer"]

#: How a client-side count was made.
CountMethod = Literal["tokenizer", "estimate"]
#: Cuts tried around the target before `TokenizerCounter.head` settles for the nearest below.
_HEAD_TRIES = 16


class TokenCounter(Protocol):
    """Counts the tokens of a text, and cuts a text to a number of tokens."""

    @property
    def method(self) -> CountMethod:
        """ "tokenizer" (exact for that tokenizer) or "estimate"."""

    def count(self, text: str) -> int:
        """The tokens of `text`."""

    def head(self, text: str, tokens: int) -> str:
        """A start of `text` of exactly `tokens` tokens when one exists (else the longest start of
        fewer); all of `text` when it has no more than `tokens`."""


class WordCounter:
    """One token per whitespace-separated word (the reference server's rule): an estimate."""

    __slots__ = ()

    @property
    def method(self) -> CountMethod:
        return "estimate"

    def count(self, text: str) -> int:
        return len(text.split())

    def head(self, text: str, tokens: int) -> str:
        return " ".join(text.split()[:tokens])


class TokenizerCounter:
    """Exact counts by a `tokenizers.Tokenizer` (content tokens, no special tokens)."""

    __slots__ = ("_tokenizer", "path")

    def __init__(self, tokenizer: Any, path: str = "") -> None:
        self._tokenizer = tokenizer
        #: The tokenizer.json it was read from ("" when built in memory).
        self.path = path

    @property
    def method(self) -> CountMethod:
        return "tokenizer"

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def head(self, text: str, tokens: int) -> str:
        """Cut `text` after one of its tokens: tokenized again, a cut word can come out as more or
        fewer tokens than it was inside the text, so cuts around the target are tried until one
        counts exactly `tokens`; failing that, the longest that counts fewer."""
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        if len(offsets) <= tokens:
            return text
        if tokens < 1:
            return ""
        best = ""
        cut = tokens
        for _ in range(_HEAD_TRIES):
            candidate = text[: offsets[cut - 1][1]]
            counted = self.count(candidate)
            if counted == tokens:
                return candidate
            if counted < tokens and len(candidate) > len(best):
                best = candidate
            cut += tokens - counted
            if not 1 <= cut <= len(offsets):
                break
        return best


@lru_cache(maxsize=8)
def load_tokenizer(path: str) -> TokenizerCounter:
    """A counter from the Hugging Face `tokenizer.json` at `path`. A missing `tokenizers`
    library, a missing file or one that does not load is a one-line `ConfigError` naming it."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError(
            f"{path}: counting with a tokenizer needs the tokenizers library: pip install 'rtbench[tokenizer]'"
        ) from None
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such tokenizer file")
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as exc:  # the library raises a bare Exception for any bad file
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{path}: not a tokenizer.json the tokenizers library can load: {reason}") from None
    return TokenizerCounter(tokenizer, path)
