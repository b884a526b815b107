"""A user's conversations and system-prompt personas: what each turn sends, and what it records.

With `[conversation]` (or personas that have system prompts, a dataset of conversations, or a
shared prefix sent as a system message), each turn is sent through the adapter's `converse` with
its `TurnContext`, and its figures are also recorded by turn index (`by_turn_metric`). A persona
switch changes the system prompt from the next turn on; with no acknowledgement to time,
`persona_switch` is the TTFT of that turn, and the TTFT of turns that did not follow a switch goes
to `ttft_same_persona`, so that the two sit side by side.

The user texts come from the run's `PromptSource`. A dataset item is replayed as one conversation:
its user turns in order, its system prompt first; the history holds the answers the target streamed
back, not the item's own assistant messages (those are never sent). Otherwise each turn takes the
next prompt, and a conversation lasts `[conversation] turns` (one turn without `[conversation]`).
The system message is the shared prefix, the persona's system prompt and the item's, in that order,
joined by blank lines; a protocol that sends no context gets the prefix before each user text.
"""

from __future__ import annotations

import random

from rtbench.config import ConversationConfig
from rtbench.load.conversation import Conversation
from rtbench.metrics.breakdowns import by_turn_metric
from rtbench.metrics.recorder import Recorder
from rtbench.metrics.turn import TurnResult
from rtbench.prompts.dataset import Script
from rtbench.prompts.source import PromptSource
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

    __slots__ = ("user", "index", "after_switch", "parts", "input_tokens")

    def __init__(self, user: str, index: int, after_switch: bool, input_tokens: int = 0) -> None:
        self.user = user
        self.index = index
        self.after_switch = after_switch
        #: The tokens of every message sent (system, history, user), by the run's counter.
        self.input_tokens = input_tokens
        #: The content texts streamed back, in order.
        self.parts: list[str] = []


class Dialogue:
    """One user's conversations (one at a time) and its system-prompt persona."""

    __slots__ = (
        *("_config", "_rng", "_recorder", "_conversation", "_systems", "_models", "_switched", "_server_session"),
        *("_source", "_prefix", "_persona_system", "_model", "_script", "_length"),
        "conversations",
    )

    def __init__(
        self,
        config: ConversationConfig,
        rng: random.Random,
        recorder: Recorder,
        session: str,
        source: PromptSource,
        prefix_as_system: bool = True,
    ) -> None:
        """`source`: the process's prompts; `prefix_as_system`: the adapter sends a system message
        (else the shared prefix goes before each user text)."""
        self._config = config
        self._rng = rng
        self._recorder = recorder
        self._source = source
        count = source.counter.count
        self._conversation = Conversation(config.history_turns, config.max_context_tokens, session, count)
        self._systems = dict(config.persona_systems)
        self._models = dict(config.persona_models)
        self._switched = False  # the system prompt changed since the last turn was sent
        self._server_session = -1  # the server session the conversation lives in (keeps_context)
        self._prefix = source.prefix if prefix_as_system else ""
        self._persona_system: str | None = None
        self._model: str | None = None
        self._script: Script | None = None  # the dataset item this conversation replays
        self._length: int | None = None  # the turns of the conversations `begin` starts
        self._set_system()
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

    @property
    def all_sent(self) -> bool:
        """Every turn of the current conversation has been sent (or none was started)."""
        return self._conversation.ended

    def starts_conversation(self, adapter: ProtocolAdapter, server_session: int) -> bool:
        """Whether the next `send` starts a conversation: the last one ended, or the server lost it
        (a fresh server session, for an adapter whose server keeps the context)."""
        lost = adapter.keeps_context and server_session != self._server_session
        return self._conversation.ended or lost

    def set_persona(self, name: str, switch: bool) -> None:
        """Use persona `name`'s system prompt from the next turn on; `switch`: a timed switch."""
        self._persona_system, self._model = self._systems.get(name), self._models.get(name)
        self._set_system()
        if switch:
            self._switched = True
            self._recorder.count("persona_switches")

    def _set_system(self) -> None:
        """The conversation's system message: prefix, persona's and script's system prompts."""
        script = self._script
        given = (self._prefix, self._persona_system, script.system if script is not None else None)
        parts = [part for part in given if part]
        self._conversation.set_persona("\n\n".join(parts) if parts else None, self._model)

    def begin(self, length: int) -> None:
        """End the conversation in progress: the next turn starts one of exactly `length` turns
        (a trace's conversation, whose texts `send` is given), and so does the next after a lost
        server session."""
        self._conversation.start(0)
        self._length = length

    def send(
        self,
        adapter: ProtocolAdapter,
        turn_id: str,
        server_session: int,
        max_tokens: int | None = None,
        text: str | None = None,
    ) -> tuple[list[str], SentTurn]:
        """The messages of the next turn, starting a conversation first when the last one ended
        or the server lost it (a fresh server session, for an adapter whose server keeps it).
        `text`: the user text (a trace row's), instead of the run's next prompt."""
        conversation, recorder, source = self._conversation, self._recorder, self._source
        if self.starts_conversation(adapter, server_session):
            self._start()
            self._server_session = server_session
            self.conversations += 1
            recorder.count("conversations_started")
        script = self._script
        if text is not None:
            user = text
        else:
            user = script.user_turns[conversation.turn] if script is not None else source.next_script().user_turns[0]
        if not adapter.sends_context:
            user = source.with_prefix(user)
        context = conversation.next_turn(user)
        if conversation.truncated:
            recorder.count("context_truncations")
            recorder.count("context_turns_dropped", conversation.truncated)
        after_switch = self._switched and context.turn > 1
        self._switched = False
        frames = adapter.converse(turn_id, context, max_tokens)
        tokens = conversation.context_tokens if adapter.sends_context else source.counter.count(user)
        return frames, SentTurn(user, context.turn, after_switch, tokens)

    def _start(self) -> None:
        """A new conversation: the next dataset item, or `[conversation] turns` of prompts."""
        if self._length is not None:  # a trace's conversation
            self._script = None
            self._set_system()
            length = self._length
        elif self._source.from_dataset:
            self._script = self._source.next_script()
            self._set_system()
            length = len(self._script.user_turns)
        elif self._config.enabled:
            low, high = self._config.turns
            length = low if low == high else self._rng.randint(low, high)
        else:
            length = 1
        self._conversation.start(length)

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
