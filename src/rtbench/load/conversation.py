"""One user's conversation: its turns, its history (window and token bound) and its system prompt.

Pure: the user feeds it each turn's text and, once the turn completed, the text streamed back; it
hands out the `TurnContext` the adapter sends. Only completed turns enter the history, each with
the assistant's text exactly as it arrived. Turns beyond the window, or the oldest ones that make
the context exceed `max_context_tokens` (counted by the shared token rule, `count_tokens`, or the
run's tokenizer), are left out, and kept no longer than they can be sent, so a session's memory
stays bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from rtbench.protocols.context import Message, TurnContext, count_tokens

__all__ = ["Conversation"]


class _Turn(NamedTuple):
    user: Message
    assistant: Message
    tokens: int


class Conversation:
    """The conversation one user holds; a new one starts with `start`."""

    __slots__ = (
        "_keep",
        "_max_tokens",
        "_count",
        "_session",
        "_turns",
        "_dropped",
        "_system",
        "_system_tokens",
        "_model",
        "_sent_system",
        "turn",
        "length",
        "truncated",
        "context_tokens",
    )

    def __init__(
        self,
        history_turns: int | None,
        max_context_tokens: int | None,
        session: str = "",
        count: Callable[[str], int] = count_tokens,
    ) -> None:
        """`history_turns`: earlier turns a context keeps (None: all); `session`: a name that stays
        the same over the user's conversations (the adapter's cache key); `count`: a text's tokens."""
        self._keep = history_turns
        self._max_tokens = max_context_tokens
        self._count = count
        self._session = session
        self._turns: deque[_Turn] = deque()
        self._dropped = 0
        self._system: str | None = None
        self._system_tokens = 0
        self._model: str | None = None
        self._sent_system: str | None = None
        #: Turns started in this conversation.
        self.turn = 0
        #: Turns this conversation lasts.
        self.length = 0
        #: Earlier turns the last context left out for `max_context_tokens`.
        self.truncated = 0
        #: The tokens of the last context: system prompt, kept turns and user text.
        self.context_tokens = 0

    @property
    def ended(self) -> bool:
        """All its turns have started (or none was ever started)."""
        return self.turn >= self.length

    def start(self, length: int) -> None:
        """Begin a new conversation of `length` turns (the system prompt stays)."""
        self._turns.clear()
        self.turn, self.length, self._dropped, self.truncated = 0, length, 0, 0
        self._sent_system = None

    def set_persona(self, system: str | None, model: str | None = None) -> None:
        """The system prompt (and model) from the next turn on; the history stays."""
        self._system, self._model = system, model
        self._system_tokens = self._count(system) if system is not None else 0

    def next_turn(self, user: str) -> TurnContext:
        """The context of the next turn, whose user text is `user`."""
        self.turn += 1
        turns = self._turns
        truncated = 0
        user_tokens = self._count(user)
        total = sum(turn.tokens for turn in turns)
        if self._max_tokens is not None:
            budget = self._max_tokens - self._system_tokens - user_tokens
            while turns and total > budget:
                total -= turns.popleft().tokens
                truncated += 1
        self.truncated = truncated
        self.context_tokens = self._system_tokens + total + user_tokens
        self._dropped += truncated
        history: list[Message] = []
        for turn in turns:
            history += (turn.user, turn.assistant)
        changed = self.turn == 1 or self._system != self._sent_system
        self._sent_system = self._system
        return TurnContext(
            turn=self.turn,
            user=user,
            system=self._system,
            history=tuple(history),
            dropped_turns=self._dropped,
            system_changed=changed,
            model=self._model,
            session=self._session,
        )

    def complete(self, user: str, assistant: str) -> None:
        """The turn of `user` completed with `assistant`, the text streamed back: it enters the
        history (and the oldest turn leaves it when the window is full)."""
        tokens = self._count(user) + self._count(assistant)
        self._turns.append(_Turn(Message("user", user), Message("assistant", assistant), tokens))
        if self._keep is not None:
            while len(self._turns) > self._keep:
                self._turns.popleft()
                self._dropped += 1
