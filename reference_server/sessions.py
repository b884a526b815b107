"""Native-protocol sessions: per-session `seq`, the bounded replay buffer, resume tokens and TTL.

A session outlives its connection: when the connection drops, the session is detached, keeps
generating into its replay buffer, and stays resumable for `ttl_s` seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from reference_server.context import Conversation
from reference_server.limits import TokenBucket

__all__ = ["ReplayBuffer", "Session", "SessionRegistry"]

log = logging.getLogger("reference_server")


class ReplayBuffer:
    """The last replayable frames of a session, numbered 1, 2, 3, ... (the `seq`): at most
    `capacity` frames of at most `max_bytes` in all (0 = no byte bound), the oldest going first.

    Memory is allocated on the first frame, so an idle session costs only this small object.
    """

    __slots__ = ("capacity", "max_bytes", "bytes", "last_seq", "_frames")

    def __init__(self, capacity: int, max_bytes: int = 0) -> None:
        self.capacity = max(0, capacity)
        self.max_bytes = max_bytes
        #: The length of the frames held.
        self.bytes = 0
        #: The seq of the newest frame appended (0 before any).
        self.last_seq = 0
        self._frames: deque[str] | None = None

    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else 0

    @property
    def first_seq(self) -> int:
        """The seq of the oldest frame still held (last_seq + 1 when empty)."""
        return self.last_seq - len(self) + 1

    def append(self, payload: str) -> int:
        """Store the frame numbered `last_seq + 1`; returns that seq."""
        frames = self._frames
        if frames is None:
            frames = self._frames = deque(maxlen=self.capacity)
        self.last_seq += 1
        if not self.capacity:
            return self.last_seq
        if len(frames) == self.capacity:
            self.bytes -= len(frames[0])  # the append pushes it out
        frames.append(payload)
        self.bytes += len(payload)
        if self.max_bytes:
            while self.bytes > self.max_bytes and frames:
                self.bytes -= len(frames.popleft())
        return self.last_seq

    def trim(self, acked_seq: int) -> int:
        """Forget the frames with seq <= `acked_seq` (the client has them); returns how many went.

        An emptied buffer releases its deque, so a session between turns costs only this object.
        """
        frames = self._frames
        if frames is None:
            return 0
        drop = min(acked_seq, self.last_seq) - self.first_seq + 1
        if drop <= 0:
            return 0
        if drop >= len(frames):
            drop = len(frames)
            self._frames, self.bytes = None, 0
            return drop
        for _ in range(drop):
            self.bytes -= len(frames.popleft())
        return drop

    def since(self, last_seq: int) -> list[str] | None:
        """Every frame with seq > `last_seq`, in order; None if some were evicted or never existed."""
        if last_seq < self.first_seq - 1 or last_seq > self.last_seq:
            return None
        frames = self._frames
        if frames is None or last_seq == self.last_seq:
            return []
        return list(itertools.islice(frames, last_seq - self.first_seq + 1, None))


class Session:
    """One native-protocol session. `conn` is the attached connection, or None while detached."""

    __slots__ = (
        "id",
        "tokens",
        "number",
        "persona",
        "buffer",
        "conn",
        "turns",
        "expiry",
        "switching",
        "turn_count",
        "bucket",
        "conversation",
    )

    def __init__(
        self, session_id: str, token: str, number: int, persona: str, replay_capacity: int, replay_bytes: int = 0
    ) -> None:
        self.id = session_id
        #: Resume tokens that lead here (the first one, plus aliases gained by resumes).
        self.tokens = [token]
        #: Ordinal of the session in this process (keys the latency rng).
        self.number = number
        self.persona = persona
        self.buffer = ReplayBuffer(replay_capacity, replay_bytes)
        self.conn: Any = None
        #: Turns in flight (None when there are none, to keep idle sessions small).
        self.turns: set[asyncio.Task[None]] | None = None
        self.expiry: asyncio.TimerHandle | None = None
        #: Set while a persona switch is pending; prompts wait for it.
        self.switching: asyncio.Future[None] | None = None
        self.turn_count = 0
        #: The prompt rate limit's bucket (None when there is no limit).
        self.bucket: TokenBucket | None = None
        #: The conversation's context and prefix cache (None until the session uses one; it survives a resume).
        self.conversation: Conversation | None = None

    @property
    def resume_token(self) -> str:
        return self.tokens[0]

    @property
    def in_flight(self) -> int:
        """Turns and persona switches not finished yet."""
        return len(self.turns) if self.turns is not None else 0

    @property
    def busy(self) -> bool:
        """Whether anything happened in this session (frames or turns) since it started."""
        return bool(self.buffer.last_seq or self.turns or self.switching)

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep `task` (a turn or a switch) until it ends; it is cancelled when the session expires."""
        if self.turns is None:
            self.turns = set()
        self.turns.add(task)
        task.add_done_callback(self._untrack)

    def _untrack(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("session %s: a turn failed: %r", self.id, task.exception())
        if self.turns is not None:
            self.turns.discard(task)
            if not self.turns:
                self.turns = None

    def cancel_turns(self) -> None:
        for task in list(self.turns or ()):
            task.cancel()


class SessionRegistry:
    """All sessions of this process, by resume token; detached sessions expire after `ttl_s`.

    Each session's replay buffer holds `replay_capacity` frames of `replay_bytes` at most. At most
    `max_detached` sessions (0 = any number) wait detached: one more evicts the one that waited
    longest (`on_evict` is called), so a client cannot pile up replay buffers by connecting,
    prompting and leaving.
    """

    def __init__(
        self,
        ttl_s: float,
        replay_capacity: int,
        max_detached: int = 0,
        on_evict: Callable[[], None] | None = None,
        replay_bytes: int = 0,
    ) -> None:
        self.ttl_s = ttl_s
        self.replay_capacity = replay_capacity
        self.replay_bytes = replay_bytes
        self.max_detached = max_detached
        self.on_evict = on_evict
        self._by_token: dict[str, Session] = {}
        self._numbers = itertools.count(1)
        #: Sessions held.
        self.count = 0
        #: Detached sessions (waiting for a resume), oldest first.
        self._detached: dict[Session, None] = {}

    def __len__(self) -> int:
        return self.count

    @property
    def detached(self) -> int:
        """How many sessions wait detached."""
        return len(self._detached)

    def create(self, persona: str) -> Session:
        token = "r-" + secrets.token_urlsafe(18)
        session = Session(
            "s-" + secrets.token_hex(6), token, next(self._numbers), persona, self.replay_capacity, self.replay_bytes
        )
        self._by_token[token] = session
        self.count += 1
        return session

    def find(self, token: str) -> Session | None:
        return self._by_token.get(token)

    def attach(self, session: Session, conn: Any) -> None:
        """Make `conn` the connection of `session` (replacing any, ending a pending expiry)."""
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
            del self._detached[session]
        session.conn = conn

    def detach(self, session: Session, conn: Any) -> None:
        """`conn` went away: keep `session` resumable for `ttl_s` (if `conn` is still its connection)."""
        if session.conn is not conn or not self._holds(session):
            return
        session.conn = None
        if self.max_detached and len(self._detached) >= self.max_detached:
            self.discard(next(iter(self._detached)))
            if self.on_evict is not None:
                self.on_evict()
        self._detached[session] = None
        session.expiry = asyncio.get_running_loop().call_later(self.ttl_s, self.discard, session)

    def adopt(self, session: Session, fresh: Session) -> None:
        """`fresh` resumed `session`: forget `fresh`, and let its token lead to `session` too."""
        self.discard(fresh)
        for token in fresh.tokens:
            self._by_token[token] = session
            session.tokens.append(token)

    def discard(self, session: Session) -> None:
        """Forget `session` for good and cancel its turns."""
        if not self._holds(session):
            return
        self.count -= 1
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
            del self._detached[session]
        for token in session.tokens:
            if self._by_token.get(token) is session:
                del self._by_token[token]
        session.cancel_turns()

    def close_all(self) -> None:
        for session in list(self._by_token.values()):
            self.discard(session)

    def _holds(self, session: Session) -> bool:
        return self._by_token.get(session.resume_token) is session
