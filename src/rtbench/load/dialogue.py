"""A user's conversations and system-prompt personas: what each turn sends, and what it records.

With `[conversation]` (or personas that have system prompts), each turn is sent through the
adapter's `converse` with its `TurnContext`, and its figures are also recorded by turn index
(`by_turn_metric`). A persona switch changes the system prompt from the next turn on; with no
acknowledgement to time, `persona_switch` is the TTFT of that turn, and the TTFT of turns that did
not follow a switch goes to `ttft_same_persona`, so that the two sit side by side.
"""

from __future__ import annotations

import random

from rtbench.config import ConversationConfig
from rtbench.load.conversation import Conversation
from rtbench.metrics.names import by_turn_metric
from rtbench.metrics.recorder import Recorder
from rtbench.metrics.turn import TurnResult
from rtbench.protocols.base import ProtocolAdapter

__all__ = ["Dialogue", "SentTurn", "pick_persona"]


def pick_persona(personas: tuple[tuple[str, float], ...], current: str | None, rng: random.Random) -> str:
    """A persona other than `current`, drawn by weight (the only one, if there is one)."""
    others = [(name, weight) for name, weight in personas if name != current]
    if not others:
        return personas[0][0]
    return rng.choices([name for name, _ in others], [weight for _, weight in others])[0]


class SentTurn:
    """What a sent turn of a conversation needs at its end."""

    __slots__ = ("user", "index", "after_switch", "parts")

    def __init__(self, user: str, index: int, after_switch: bool) -> None:
        self.user = user
        self.index = index
        self.after_switch = after_switch
        #: The content texts streamed back, in order.
        self.parts: list[str] = []


class Dialogue:
    """One user's conversations (one at a time) and its system-prompt persona."""

    __slots__ = (
        *("_config", "_rng", "_recorder", "_conversation", "_systems", "_models", "_switched", "_server_session"),
        "conversations",
    )

    def __init__(self, config: ConversationConfig, rng: random.Random, recorder: Recorder, session: str) -> None:
        self._config = config
        self._rng = rng
        self._recorder = recorder
        self._conversation = Conversation(config.history_turns, config.max_context_tokens, session)
        self._systems = dict(config.persona_systems)
        self._models = dict(config.persona_models)
        self._switched = False  # the system prompt changed since the last turn was sent
        self._server_session = -1  # the server session the conversation lives in (keeps_context)
        #: Conversations this user has started (the current one's number, from 1).
        self.conversations = 0

    @property
    def by_system_prompt(self) -> bool:
        """Personas are system prompts (switched here), not the server's own (switched by message)."""
        return bool(self._systems)

    @property
    def in_conversation(self) -> bool:
        """A conversation has started and has turns left: a persona switch may come now."""
        conversation = self._conversation
        return 0 < conversation.turn < conversation.length

    def set_persona(self, name: str, switch: bool) -> None:
        """Use persona `name`'s system prompt from the next turn on; `switch`: a timed switch."""
        self._conversation.set_persona(self._systems.get(name), self._models.get(name))
        if switch:
            self._switched = True
            self._recorder.count("persona_switches")

    def send(
        self, adapter: ProtocolAdapter, turn_id: str, user: str, server_session: int
    ) -> tuple[list[str], SentTurn]:
        """The messages of the next turn, starting a conversation first when the last one ended
        or the server lost it (a fresh server session, for an adapter whose server keeps it)."""
        conversation, recorder = self._conversation, self._recorder
        lost = adapter.keeps_context and server_session != self._server_session
        if conversation.ended or lost:
            low, high = self._config.turns
            conversation.start(low if low == high else self._rng.randint(low, high))
            self._server_session = server_session
            self.conversations += 1
            recorder.count("conversations_started")
        context = conversation.next_turn(user)
        if conversation.truncated:
            recorder.count("context_truncations")
            recorder.count("context_turns_dropped", conversation.truncated)
        after_switch = self._switched and context.turn > 1
        self._switched = False
        frames = adapter.converse(turn_id, context, self._config.max_tokens)
        return frames, SentTurn(user, context.turn, after_switch)

    def completed(self, turn: SentTurn, result: TurnResult, timed_switch: bool) -> None:
        """Record the completed turn by its index, and add it to the history. `timed_switch`: the
        user timed a server-side persona switch for it (then `persona_switch` is recorded there)."""
        self._conversation.complete(turn.user, "".join(turn.parts))
        record = self._recorder.record
        index = turn.index
        if result.ttft_us is not None:
            record(by_turn_metric("ttft", index), result.ttft_us)
            if turn.after_switch:
                record("persona_switch", result.ttft_us)
            elif index > 1 and not timed_switch:
                record("ttft_same_persona", result.ttft_us)
        if result.tpot_us is not None:
            record(by_turn_metric("tpot", index), result.tpot_us)
        record(by_turn_metric("e2e", index), result.e2e_us)
