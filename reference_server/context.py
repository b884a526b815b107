"""Conversation contexts and the prefix-cache arithmetic of the prefill model. Pure: no I/O, no clock.

The token rule: a token is a whitespace-separated word (`len(text.split())`); a context's input
tokens are the tokens of all its messages, summed (roles add nothing).

A session's prefix cache holds the context of its last completed turn plus the reply that turn
generated. A new context finds cached the tokens of its longest common prefix with it, compared
whole message by whole message (role and exact content): a changed system prompt misses from
message 0. The cache keeps a 64-bit hash of each message, not its text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from operator import attrgetter
from typing import NamedTuple

__all__ = [
    "CHARS_PER_TOKEN",
    "CacheStore",
    "Conversation",
    "Message",
    "Prefill",
    "PrefixCache",
    "bound_messages",
    "context_tokens",
    "count_tokens",
    "message",
    "over_budget",
    "turns_beyond",
]

#: A context within N tokens also holds at most N * CHARS_PER_TOKEN characters: a bound in
#: words alone would let a client pile up one-word messages of any length.
CHARS_PER_TOKEN = 16


def count_tokens(text: str) -> int:
    """The token rule: whitespace-separated words."""
    return len(text.split())


class Message(NamedTuple):
    """One message of a context; `tokens` is `count_tokens(content)`, `key` the hash of role and
    content (what the prefix cache compares: computed once, not at every turn). Made by `message`."""

    role: str
    content: str
    tokens: int
    key: int


_TOKENS, _CONTENT, _KEY = attrgetter("tokens"), attrgetter("content"), attrgetter("key")


def message(role: str, content: str) -> Message:
    return Message(role, content, count_tokens(content), hash((role, content)))


def context_tokens(messages: Sequence[Message]) -> int:
    """The input tokens of a context: every message's tokens, summed."""
    return sum(map(_TOKENS, messages))


class Prefill(NamedTuple):
    """A turn's input: all its tokens, and those of them the prefix cache held."""

    input_tokens: int
    cached_tokens: int = 0

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens - self.cached_tokens

    def ms(self, ms_per_1k: float) -> float:
        """The prefill time: `ms_per_1k` per 1000 uncached input tokens."""
        return ms_per_1k * self.uncached_tokens / 1000.0 if ms_per_1k else 0.0


class PrefixCache:
    """One session's cached context (the last turn's context plus the reply it generated), kept as
    the hash of each message and the tokens of them all."""

    __slots__ = ("_hashes", "_tokens")

    def __init__(self) -> None:
        self._hashes: tuple[int, ...] = ()
        self._tokens = 0

    def __len__(self) -> int:
        """Messages held."""
        return len(self._hashes)

    def lookup(self, context: Sequence[Message]) -> Prefill:
        """The input tokens of `context`, and the tokens of its longest whole-message prefix cached."""
        total, held = context_tokens(context), self._hashes
        head = tuple(map(_KEY, context[: len(held)]))
        if head == held:  # the usual next turn: all that is cached is a prefix (no Python-level loop)
            return Prefill(total, self._tokens)
        cached = 0
        for msg, new, old in zip(context, head, held, strict=False):  # the shorter one ends the match
            if new != old:
                break
            cached += msg.tokens
        return Prefill(total, cached)

    def store(self, context: Sequence[Message], reply: str) -> None:
        """Hold `context` followed by the assistant message `reply`."""
        answer = message("assistant", reply)
        self._hashes = (*map(_KEY, context), answer.key)
        self._tokens = context_tokens(context) + answer.tokens

    def clear(self) -> None:
        self._hashes, self._tokens = (), 0


class CacheStore:
    """Prefix caches by key (the HTTP `user` string): a bounded LRU, `capacity` 0 = unbounded."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._caches: OrderedDict[str, PrefixCache] = OrderedDict()

    def __len__(self) -> int:
        return len(self._caches)

    def get(self, key: str) -> PrefixCache:
        """The cache of `key` (a new one if it has none), now the most recently used; may evict the least."""
        cache = self._caches.get(key)
        if cache is not None:
            self._caches.move_to_end(key)
            return cache
        cache = self._caches[key] = PrefixCache()
        if self.capacity and len(self._caches) > self.capacity:
            self._caches.popitem(last=False)
        return cache


def _turn_starts(history: Sequence[Message]) -> list[int]:
    """The index of each turn's first message: a turn is a user message and what follows it up to
    the next user message (the first message starts a turn whatever its role)."""
    return [i for i, m in enumerate(history) if i == 0 or m.role == "user"]


def turns_beyond(history: Sequence[Message], keep_turns: int) -> int:
    """How many of the oldest messages of `history` to drop to keep only its last `keep_turns` turns."""
    starts = _turn_starts(history)
    if len(starts) <= keep_turns:
        return 0
    return starts[len(starts) - keep_turns] if keep_turns else len(history)


def over_budget(history: Sequence[Message], fixed: Sequence[Message], max_tokens: int) -> int:
    """How many of the oldest messages of `history` to drop, whole turns at a time, so that the
    `fixed` messages (the system prompt and the new message) plus the rest fit in `max_tokens`
    tokens and in `max_tokens * CHARS_PER_TOKEN` characters."""
    max_chars = max_tokens * CHARS_PER_TOKEN
    tokens = context_tokens(fixed) + context_tokens(history)
    chars = _chars(fixed) + _chars(history)
    if tokens <= max_tokens and chars <= max_chars:
        return 0
    dropped = 0
    for end in [*_turn_starts(history)[1:], len(history)]:
        turn = history[dropped:end]
        tokens, chars, dropped = tokens - context_tokens(turn), chars - _chars(turn), end
        if tokens <= max_tokens and chars <= max_chars:
            break
    return dropped


def _chars(messages: Sequence[Message]) -> int:
    return sum(map(len, map(_CONTENT, messages)))


def bound_messages(messages: Sequence[Message], max_tokens: int) -> tuple[list[Message], int]:
    """A request's messages within `max_tokens`: the leading system messages and the last message
    stay, the oldest turns between them go. Returns the kept messages and how many went."""
    head = 0
    while head < len(messages) - 1 and messages[head].role == "system":
        head += 1
    middle = messages[head:-1]
    drop = over_budget(middle, [*messages[:head], *messages[-1:]], max_tokens)
    if not drop:
        return list(messages), 0
    return [*messages[:head], *middle[drop:], *messages[-1:]], drop


class Conversation:
    """A native session's conversation: its system prompt, its completed turns and its prefix cache.

    `epoch` counts resets: a turn that completes after a reset does not join the new conversation.
    """

    __slots__ = ("system", "history", "cache", "epoch")

    def __init__(self) -> None:
        self.system: Message | None = None
        self.history: list[Message] = []
        self.cache = PrefixCache()
        self.epoch = 0

    def reset(self) -> None:
        """Start a new conversation: forget the system prompt and the turns (not the cache)."""
        self.system = None
        self.history = []
        self.epoch += 1

    def set_system(self, text: str) -> None:
        """The system prompt from now on ("" = none)."""
        self.system = message("system", text) if text else None

    def keep(self, turns: int) -> None:
        """Keep only the last `turns` completed turns."""
        del self.history[: turns_beyond(self.history, turns)]

    def context(self, user: Message, max_tokens: int) -> list[Message]:
        """The context of a new turn: the system prompt, the turns kept, `user`; the oldest turns
        beyond `max_tokens` are dropped for good."""
        system = [self.system] if self.system is not None else []
        del self.history[: over_budget(self.history, [*system, user], max_tokens)]
        return [*system, *self.history, user]

    def complete(self, epoch: int, user: Message, reply: str) -> None:
        """A turn of `epoch` completed with `reply`: it joins the conversation (if still the same)."""
        if epoch == self.epoch:
            self.history += (user, message("assistant", reply))
