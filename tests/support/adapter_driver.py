"""Drive any WebSocket `ProtocolAdapter` through real sessions and turns, for tests.

    from support.adapter_driver import AdapterSession

    with AdapterSession(server.url("/v1/realtime", "ws"), adapter_class("openai-realtime")()) as session:
        session.open()                          # connect, handshake, wait for SessionReady
        turn = session.turn("hello")            # prompt, then wait for its Done or Error
        turn.ttft_s, turn.tokens, turn.done

The session is the load layer's own `rtbench.load.session.Session` (its machine, its transports,
recovery off), fed with the given adapter: the connection, the handshake and the wait for
`SessionReady` are the ones a run performs. Every event the session hands on is kept with its
receive time (the transport's clock, `time.perf_counter`); a turn's `sent_at` is taken on the same
clock just before its first frame is sent. gevent runs without monkey-patching: the transport
makes its own gevent sockets.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import gevent.event

from rtbench.config import RunConfig
from rtbench.load.session import Session
from rtbench.load.state import ProcessState
from rtbench.metrics.recorder import Recorder
from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.context import TurnContext
from rtbench.protocols.events import Done, Error, Event, SessionReady, Token

__all__ = ["AdapterSession", "TurnRecord"]

WAIT_S = 5.0


@dataclass
class TurnRecord:
    """One turn: when it was sent and the events stamped with its id, with receive times."""

    turn_id: str
    sent_at: float
    events: list[tuple[Event, float]] = field(default_factory=list)

    @property
    def token_events(self) -> list[Token]:
        return [event for event, _ in self.events if type(event) is Token]

    @property
    def tokens(self) -> int:
        """Tokens received, as the adapter counted them (`Token.count`)."""
        return sum(event.count for event in self.token_events)

    @property
    def text(self) -> str:
        return "".join(event.text for event in self.token_events)

    @property
    def ttft_s(self) -> float | None:
        """From sending the prompt to the first content frame, or None without content."""
        first = next((at for event, at in self.events if type(event) is Token), None)
        return None if first is None else first - self.sent_at

    @property
    def e2e_s(self) -> float | None:
        end = next((at for event, at in self.events if type(event) is Done), None)
        return None if end is None else end - self.sent_at

    @property
    def done(self) -> Done | None:
        return next((event for event, _ in self.events if type(event) is Done), None)

    @property
    def errors(self) -> list[Error]:
        return [event for event, _ in self.events if type(event) is Error]


class AdapterSession:
    """A load-layer `Session` on `adapter`; keeps every event with its receive time."""

    def __init__(self, url: str, adapter: ProtocolAdapter, connect_timeout: float = WAIT_S) -> None:
        self.events: list[tuple[Event, float]] = []
        #: Why the connection ended (the turn in flight, if any, was lost).
        self.closes: list[str] = []
        self._changed = gevent.event.Event()
        self._turn_ids = itertools.count(1)
        config = RunConfig.from_dict({"target": url, "connect_timeout": connect_timeout, "recovery": False})
        self.recorder = Recorder()
        state = ProcessState(config=config, recorder=self.recorder)
        self.session = Session(
            state, state.ledger, self._on_events, self._on_lost, lambda *_: None, new_adapter=lambda: adapter
        )

    @property
    def adapter(self) -> ProtocolAdapter:
        return self.session.adapter

    def __enter__(self) -> AdapterSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.session.close()

    def _on_events(self, events: list[Event], received_at: float) -> None:
        self.events.extend((event, received_at) for event in events)
        self._changed.set()

    def _on_lost(self, reason: str) -> None:
        self.closes.append(reason)
        self._changed.set()

    def send(self, messages: list[str]) -> float:
        """Send `messages`; the time just before the first one went."""
        sent_at = time.perf_counter()
        self.session.send(messages)
        return sent_at

    def open(self) -> SessionReady | None:
        """Open the session; the server's `SessionReady` if the adapter waits for one."""
        assert self.session.open(), "the session did not open"
        if not self.adapter.awaits_ready:
            return None
        ready, _ = self.wait_for(lambda event: type(event) is SessionReady, "SessionReady")
        assert isinstance(ready, SessionReady)
        return ready

    def turn(
        self, text: str, max_tokens: int | None = None, turn_id: str | None = None, context: TurnContext | None = None
    ) -> TurnRecord:
        """Send a prompt (with `context`, the conversation's turn, through `converse`) and wait
        until its turn ends: a `Done` or `Error` for it, a fatal `Error`, or the connection closing."""
        turn_id = turn_id or f"t{next(self._turn_ids)}"
        start = len(self.events)
        adapter = self.adapter
        messages = adapter.prompt(turn_id, text, max_tokens) if context is None else adapter.converse(turn_id, context)
        record = TurnRecord(turn_id, self.send(messages))

        def ends(event: Event) -> bool:
            if type(event) is Done:
                return event.turn_id == turn_id
            return type(event) is Error and (event.turn_id == turn_id or event.fatal)

        self.wait_for(ends, f"the end of turn {turn_id}", start=start, or_close=True)
        record.events = [
            (event, at)
            for event, at in self.events[start:]
            if getattr(event, "turn_id", None) == turn_id or (type(event) is Error and event.fatal)
        ]
        return record

    def wait_for(
        self,
        test: Callable[[Event], bool],
        what: str,
        start: int = 0,
        or_close: bool = False,
        timeout: float = WAIT_S,
    ) -> tuple[Event | None, float]:
        """The first event from index `start` on that passes `test`, waiting up to `timeout`
        seconds; with `or_close`, (None, now) once the connection has closed instead."""
        deadline = time.monotonic() + timeout
        while True:
            for event, received_at in self.events[start:]:
                if test(event):
                    return event, received_at
            if or_close and self.closes:
                return None, time.perf_counter()
            self._changed.clear()
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self._changed.wait(remaining), f"no {what} within {timeout:g} s"

    def of(self, kind: type) -> list:
        """Every event of type `kind` so far."""
        return [event for event, _ in self.events if type(event) is kind]
