"""The Locust user: one simulated chat session that times every turn into rtbench's recorder.

The connection, its drops and their recovery live in `rtbench.load.session.Session`; the user
drives turns, persona switches and pacing, and hands the session the events that concern it.
"""

from __future__ import annotations

import itertools
from time import perf_counter
from typing import Any

import gevent
from gevent.event import AsyncResult
from locust import User, task

from rtbench.load.arrivals import LATE_TOLERANCE_S, ArrivalSchedule
from rtbench.load.dialogue import Dialogue, SentTurn, pick_persona
from rtbench.load.pacing import Pacer
from rtbench.load.quota import UserTickets
from rtbench.load.session import Session
from rtbench.load.state import ProcessState, state_of
from rtbench.load.trace_feed import TraceFeed
from rtbench.load.turn_in_flight import Resend, TurnCancelled, TurnFailed, TurnInFlight, await_result, sleep_until
from rtbench.metrics.failures import close_reason, reason_counter
from rtbench.metrics.names import failure_counter
from rtbench.metrics.turn import TurnResult, TurnTimer
from rtbench.protocols.events import CONFIG_MISMATCH, Done, Error, Token
from rtbench.protocols.events import Event as ProtocolEvent
from rtbench.transports.base import TransportError

__all__ = ["ChatUser"]

_user_ids = itertools.count(1)
STOPPING_POLL_S = 0.25


class ChatUser(User):
    """Holds one session; each task is one turn: send a prompt, time the stream, think."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._shared: ProcessState = state_of(environment)
        self._config = self._shared.config
        self._recorder = self._shared.recorder
        self._rng = self._shared.rng  # one per process: a Random per user costs ~2.8 KB
        self._pacer = Pacer(self._config.load.think_time, self._rng)
        self._arrivals: ArrivalSchedule | None = None  # open loop only, from on_start
        number = next(_user_ids)
        self._uid = f"u{number}"
        addrs = self._config.load.source_addrs
        self._session = Session(
            self._shared,
            self._shared.ledger,
            on_events=self._dispatch,
            on_turn_lost=self._on_turn_lost,
            fire=self._fire,
            on_resend=self._on_resend,
            source_address=addrs[number % len(addrs)] if addrs else None,
        )
        self._turns = itertools.count(1)
        self._turn: TurnInFlight | None = None
        self._persona: str | None = None
        self._persona_conversation = 0  # the conversation the persona was set in
        self._pending_switch_at: float | None = None
        self._turn_limits_us = tuple((metric, ms * 1000.0) for metric, ms in self._config.turn_limits_ms)
        self._prompts = prompts = self._shared.prompts
        conversation = self._config.conversation
        self._trace = self._shared.trace_feed  # a trace run: its rows, not arrivals or think time
        in_system = self._shared.sends_context
        # a conversation: asked for, a dataset's, or the only way to send the shared prefix as a system message
        converses = conversation.enabled or prompts.converses or bool(prompts.prefix and in_system)
        converses = converses or self._trace is not None  # each unit of a trace is one
        self._dialogue = (
            Dialogue(conversation, self._rng, self._recorder, self._uid, prompts, in_system) if converses else None
        )
        self._tickets = UserTickets(self._shared.quota, bool(self._config.load.conversations))

    # -- Locust hooks -------------------------------------------------------------------------

    def wait_time(self) -> float:
        if self._trace is not None:
            return 0.0  # `TraceFeed.take` waits for the next unit
        if self._arrivals is not None:
            return self._arrivals.wait(perf_counter())
        return self._pacer.wait_after_turn(perf_counter())

    def on_start(self) -> None:
        self._shared.users_started += 1
        # Locust starts floor(spawn_rate) users at once each second: spread their handshakes over
        # that second, or `connect` measures a self-made burst of simultaneous handshakes.
        if self._config.load.spawn_rate > 1:
            gevent.sleep(self._rng.uniform(0.0, 1.0))
        if self._session.open() and self._config.conversation.personas:
            self._switch_persona(self._pick_persona(), timed=False)
        config = self._config
        if config.load.arrival != "closed" and config.load.rate:
            # open loop: a schedule of this user's share of the rate, with a random phase
            self._arrivals = ArrivalSchedule(
                config.load.arrival, config.load.rate / config.load.users, self._rng, perf_counter()
            )
        elif self._trace is None:
            gevent.sleep(self._pacer.initial_delay())

    def on_stop(self) -> None:
        self._session.close()

    @task
    def chat_turn(self) -> None:
        """One prompt and its streamed response."""
        if self._shared.stopping or self._out_of_work():
            gevent.sleep(STOPPING_POLL_S)
            return
        if self._trace is not None:
            return self._run_trace_unit(self._trace)
        if not self._session.ensure_up():
            return
        dialogue = self._dialogue
        by_system = dialogue is not None and dialogue.by_system_prompt
        if not by_system and self._persona is not None and self._persona_conversation != self._session.conversations:
            self._switch_persona(self._persona, timed=False)  # a fresh session forgot it
        switch = self._config.conversation.switch_probability
        if switch and (not by_system or dialogue.in_conversation) and self._rng.random() < switch:  # type: ignore[union-attr]
            self._switch_persona(self._pick_persona(), timed=True)
        if self._arrivals is not None:
            self._run_planned_turn(self._arrivals.take())
        elif self._session.up:  # a switch that found the connection gone left it recovering
            self._run_turn()

    # -- a fixed amount of work (`rtbench.load.quota`) -----------------------------------------

    def _out_of_work(self) -> bool:
        return self._tickets.out_of_work()

    def _take_work(self) -> bool:
        dialogue = self._dialogue
        starts = (
            None
            if dialogue is None
            else dialogue.starts_conversation(self._session.adapter, self._session.conversations)
        )
        return self._tickets.take(starts)

    def _end_work(self) -> None:
        if self._tickets.end(None if self._dialogue is None else self._dialogue.all_sent):
            self._recorder.count("conversations_ended")

    # -- session ------------------------------------------------------------------------------

    def _pick_persona(self) -> str:
        return pick_persona(self._config.conversation.personas, self._persona, self._rng)

    def _switch_persona(self, persona: str, timed: bool) -> None:
        dialogue = self._dialogue
        if dialogue is not None and dialogue.by_system_prompt:
            self._persona = persona  # a system prompt: it goes with the next turn
            dialogue.set_persona(persona, switch=timed)
            return
        if not self._session.up:
            return
        if timed:
            self._recorder.count("persona_switches")
        self._persona = persona
        self._persona_conversation = self._session.conversations
        if timed:
            self._pending_switch_at = perf_counter()
        try:
            self._session.send(self._session.adapter.persona(persona))
        except TransportError:
            self._pending_switch_at = None  # the session handles the drop

    # -- one turn -----------------------------------------------------------------------------

    def _run_planned_turn(self, planned: float) -> None:
        """Open loop: the turn planned for `planned`, timed from then even when it starts late
        (the session was busy or down, or the run's in-flight cap was reached)."""
        slots = self._shared.turn_slots
        if slots is not None:
            slots.acquire()
        try:
            if not self._session.up and not self._session.ensure_up():
                self._recorder.count("turns_late")
                return
            sleep_until(planned)  # never send before the moment the turn is timed from
            if perf_counter() - planned > LATE_TOLERANCE_S:
                self._recorder.count("turns_late")
            self._run_turn(planned)
        finally:
            if slots is not None:
                slots.release()

    def _run_trace_unit(self, feed: TraceFeed) -> None:
        """The trace's next unit (a conversation, or one row), each row timed from its plan."""
        unit = feed.take()  # waits for one (for good, once the trace is all handed out)
        self._dialogue.begin(len(unit.rows))  # type: ignore[union-attr]
        for planned, text, max_tokens in feed.due_rows(unit, self._session):
            self._run_turn(planned, (text, max_tokens))

    def _run_turn(self, planned: float | None = None, trace_row: tuple[str, int] | None = None) -> None:
        """One turn, timed from `planned` (open loop) or its send; `trace_row`: a row's text and max_tokens."""
        recorder, state = self._recorder, self._shared
        if state.stopping or not self._session.await_idle():
            return  # the run is stopping, or the turn found no connection to go on
        if not self._take_work():
            return  # this process's share of a fixed amount of work is used up
        number = next(self._turns)
        turn_id = f"{self._uid}-{number}"
        prompts = self._prompts
        max_tokens = prompts.max_tokens(self._rng) if trace_row is None else trace_row[1]
        sent: SentTurn | None = None
        if self._dialogue is not None:
            adapter, conversations = self._session.adapter, self._session.conversations
            row_text = trace_row[0] if trace_row is not None else None
            frames, sent = self._dialogue.send(adapter, turn_id, conversations, max_tokens, row_text)
            input_tokens = sent.input_tokens
        else:
            text = prompts.with_prefix(prompts.next_script().user_turns[0])
            frames = self._session.adapter.prompt(turn_id, text, max_tokens)
            input_tokens = prompts.counter.count(text)
        if self._trace is not None and planned is not None:
            self._trace.sent(planned)  # its send lag
        sent_at = perf_counter() if planned is None else planned
        turn = TurnInFlight(turn_id, sent_at, self._pending_switch_at, sent, input_tokens, prompts.counter.method)
        export = state.turn_export
        if export is not None:
            conversation = self._dialogue.conversations if self._dialogue is not None else None
            prompt = sent.user if sent is not None else text
            export.begin(turn, self._uid, conversation, sent.index if sent is not None else number, planned, prompt)
        self._pending_switch_at = None
        self._turn = turn
        self._pacer.turn_started(sent_at)
        recorder.count("turns_sent")
        state.in_flight += 1
        state.open_turns.add(turn)
        try:  # each sent turn ends once: completed, failed (by kind) or cancelled
            result = self._exchange(turn, frames, restart=planned is None)
        except TurnCancelled:
            pass  # counted by `ProcessState.cancel_open_turns`
        except TurnFailed as exc:
            if turn.end():
                self._fail(exc.kind, exc.reason, str(exc), turn)
        except TransportError as exc:
            if turn.end():
                self._fail("incomplete", "send_failed", str(exc), turn)
        except gevent.GreenletExit:
            if turn.end():
                recorder.count("turns_cancelled")
                if export is not None:
                    export.cancelled(turn)
            raise
        else:
            if turn.end():
                self._complete(result, turn)
        finally:
            self._turn = None
            state.open_turns.discard(turn)
            state.in_flight -= 1
            self._end_work()

    def _exchange(self, turn: TurnInFlight, frames: list[str], restart: bool) -> TurnResult:
        """Send the turn and wait for its result. A request that never reached the server (a
        keep-alive connection it had closed meanwhile) is sent once more on a new connection,
        with no failure counted (`turns_resent`); with `restart`, it is timed from then."""
        session = self._session
        try:
            session.send(frames)
            return self._await(turn)
        except (TransportError, Resend):
            failed = turn.outcome.exception if turn.outcome.ready() else None
            if not isinstance(failed, Resend):
                raise
        if not session.ensure_up():
            raise TurnFailed("incomplete", "resend_failed", f"{failed}; no new connection to send it again")
        if turn.ended:
            raise TurnCancelled()  # the run stopped while it reconnected
        self._recorder.count("turns_resent")
        turn.outcome = AsyncResult()
        if turn.sent is not None:
            turn.sent.parts.clear()
        if restart:
            turn.timer = TurnTimer(perf_counter())
            turn.last_frame_at = turn.timer.sent_at
        session.send(frames)
        return self._await(turn)

    def _complete(self, result: TurnResult, turn: TurnInFlight) -> None:
        recorder = self._recorder
        recorder.record_turn(result)
        if self._shared.turn_export is not None:
            self._shared.turn_export.completed(turn, result)
        if turn.sent is not None and self._dialogue is not None:
            self._dialogue.completed(turn.sent, result, timed_switch=turn.persona_switch_at is not None)
        if self._turn_limits_us and self._within_limits(result):
            recorder.count("turns_good")
        if result.ttft_us is not None:
            self._fire("ttft", result.ttft_us / 1000.0, None, result.output_tokens)
        self._fire("e2e", result.e2e_us / 1000.0, None, result.output_tokens)

    def _await(self, turn: TurnInFlight) -> TurnResult:
        """The turn's result, within the turn timeout and the first-token and idle timeouts."""
        return await_result(turn, self._config.target)

    def _within_limits(self, result: TurnResult) -> bool:
        """Whether the turn met every per-turn limit (for goodput); a missing value fails."""
        for metric, limit_us in self._turn_limits_us:
            value = getattr(result, f"{metric}_us", None)
            if value is None or value > limit_us:
                return False
        return True

    def _fail(self, kind: str, reason: str, detail: str, turn: TurnInFlight) -> None:
        if self._shared.turn_export is not None:
            self._shared.turn_export.failed(turn, kind, reason)
        self._recorder.count(failure_counter(kind))
        self._recorder.count(reason_counter(kind, reason))
        self._fire("turn", 0.0, TurnFailed(kind, reason, detail))
        if kind == "timeout":
            self._session.abandon()  # the stream is stuck: start afresh at the next turn

    # -- events from the session (reader greenlet) ---------------------------------------------

    def _dispatch(self, events: list[ProtocolEvent], received_at: float) -> None:
        turn = self._turn
        for event in events:
            if type(event) is Token:
                if turn is not None and event.turn_id == turn.turn_id:
                    turn.timer.on_content(received_at, event.count, event.reasoning)
                    if not event.reasoning:  # the answer: what a conversation's history keeps
                        if turn.sent is not None:
                            turn.sent.parts.append(event.text)
                        if turn.texts is not None:
                            turn.texts.append(event.text)
                    turn.last_frame_at = received_at
                    if not turn.first_token_seen:
                        turn.first_token_seen = True
                        if turn.persona_switch_at is not None:
                            self._recorder.record("persona_switch", (received_at - turn.persona_switch_at) * 1e6)
            elif type(event) is Done:
                if turn is not None and event.turn_id == turn.turn_id and not turn.outcome.ready():
                    if turn.first_token_seen:
                        result = turn.timer.finish(
                            received_at, event.output_tokens, event.input_tokens, turn.input_tokens, turn.input_method
                        )
                        turn.outcome.set(result)
                    else:  # no content at all: not a completed turn
                        turn.outcome.set_exception(
                            TurnFailed("empty", "no_content", "the response ended with no content")
                        )
            elif type(event) is Error:
                self._on_error(event, turn)

    def _on_error(self, event: Error, turn: TurnInFlight | None) -> None:
        self._recorder.count_error(event.code)
        if event.code == CONFIG_MISMATCH and self._shared.config_error is None:
            self._shared.config_error = event.message
        if turn is None or turn.outcome.ready():
            return
        if event.turn_id in (None, turn.turn_id) or event.fatal:
            kind, reason = ("seq_gap", "seq_gap") if event.code == "seq_gap" else ("error", "error_frame")
            turn.outcome.set_exception(TurnFailed(kind, reason, f"{event.code}: {event.message}"))

    def _on_turn_lost(self, reason: str) -> None:
        """The session cannot bring the turn in flight back: it fails as incomplete."""
        turn = self._turn
        if turn is not None and not turn.outcome.ready():
            turn.outcome.set_exception(TurnFailed("incomplete", close_reason(reason), f"connection closed: {reason}"))

    def _on_resend(self, reason: str) -> None:
        """The request in flight never reached the server: `_exchange` sends it again."""
        turn = self._turn
        if turn is not None and not turn.outcome.ready():
            turn.outcome.set_exception(Resend(f"connection closed before any answer: {reason}"))

    def _fire(self, name: str, ms: float, exc: Exception | None, length: int = 0) -> None:
        """Keep Locust's console and UI informative; rtbench's figures come from its recorder."""
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=ms,
            response_length=length,
            exception=exc,
            context={},
        )
