"""What an adapter is given to send one turn of a conversation: `TurnContext`.

A conversation is a system prompt (the persona's), the earlier turns it keeps (each the user's text
and the assistant's text exactly as it was streamed back), and this turn's user text. Adapters of
stateless protocols (openai-chat, ws-json) send all of it with every turn; adapters of protocols
whose server keeps the conversation (native, Realtime) send what changed: a new system prompt, the
new user text, and which earlier turns to forget.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Message", "TurnContext", "count_tokens"]


def count_tokens(text: str) -> int:
    """The token rule rtbench and its reference server share: one token per whitespace-separated word."""
    return len(text.split())


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation."""

    #: "system", "user" or "assistant".
    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        """The OpenAI chat form: {"role": ..., "content": ...}."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class TurnContext:
    """One turn of a conversation, as the adapter must send it."""

    #: The turn's 1-based index in its conversation.
    turn: int
    #: This turn's user text.
    user: str
    #: The persona's system prompt, None without one.
    system: str | None
    #: The earlier turns the context keeps, oldest first: user, assistant, user, assistant, ...
    history: tuple[Message, ...]
    #: Earlier turns of the conversation left out of the context (by the window or the token bound).
    dropped_turns: int
    #: The system prompt is not the one the previous turn was sent with (or this is the first turn).
    system_changed: bool
    #: The model the persona asks for, None for the adapter's own.
    model: str | None = None
    #: A name of the conversation's session that stays the same across its turns (a cache key).
    session: str = ""

    @property
    def kept_turns(self) -> int:
        """The earlier turns the context keeps; a server-side context keeps as many."""
        return len(self.history) // 2

    @property
    def new_conversation(self) -> bool:
        """This turn starts a conversation."""
        return self.turn == 1

    def messages(self) -> list[Message]:
        """System (if any), the kept history, then this turn's user message."""
        head = [Message("system", self.system)] if self.system is not None else []
        return [*head, *self.history, Message("user", self.user)]

    def message_dicts(self) -> list[dict[str, str]]:
        """`messages()` in the OpenAI chat form."""
        return [message.as_dict() for message in self.messages()]
