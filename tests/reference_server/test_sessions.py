"""The replay buffer (pure) and the session registry (TTL on a real event loop)."""

from __future__ import annotations

import asyncio

from reference_server.sessions import ReplayBuffer, SessionRegistry


def test_replay_buffer_numbers_frames_from_one() -> None:
    buffer = ReplayBuffer(8)
    assert (len(buffer), buffer.last_seq, buffer.first_seq) == (0, 0, 1)
    assert [buffer.append(f"f{i}") for i in range(1, 4)] == [1, 2, 3]
    assert buffer.since(0) == ["f1", "f2", "f3"]
    assert buffer.since(1) == ["f2", "f3"]
    assert buffer.since(3) == []


def test_replay_buffer_evicts_oldest_and_refuses_gaps() -> None:
    buffer = ReplayBuffer(3)
    for i in range(1, 6):
        buffer.append(f"f{i}")
    assert (buffer.first_seq, buffer.last_seq, len(buffer)) == (3, 5, 3)
    assert buffer.since(2) == ["f3", "f4", "f5"]
    assert buffer.since(1) is None  # frame 2 is gone: replaying would leave a gap
    assert buffer.since(6) is None  # the client claims frames that were never sent


def test_replay_buffer_allocates_lazily() -> None:
    buffer = ReplayBuffer(4096)
    assert buffer._frames is None
    assert buffer.since(0) == []
    buffer.append("x")
    assert buffer._frames is not None and buffer._frames.maxlen == 4096


def test_replay_buffer_trim_forgets_acknowledged_frames_and_frees_when_empty() -> None:
    buffer = ReplayBuffer(8)
    for i in range(1, 6):
        buffer.append(f"f{i}")
    assert buffer.trim(2) == 2
    assert (buffer.first_seq, buffer.last_seq, buffer.bytes) == (3, 5, 6)
    assert buffer.since(2) == ["f3", "f4", "f5"]
    assert buffer.since(1) is None  # acknowledged frames cannot be asked for again
    assert buffer.trim(2) == 0 and buffer.trim(99) == 3  # an ack past the last seq stops there
    assert buffer._frames is None and (len(buffer), buffer.bytes, buffer.first_seq) == (0, 0, 6)
    assert buffer.since(5) == [] and buffer.since(4) is None
    assert buffer.append("f6") == 6 and buffer.since(5) == ["f6"]


def test_replay_buffer_of_zero_keeps_numbering() -> None:
    buffer = ReplayBuffer(0)
    buffer.append("a")
    buffer.append("b")
    assert buffer.last_seq == 2
    assert buffer.since(2) == []
    assert buffer.since(1) is None


def test_registry_detached_sessions_expire_after_ttl() -> None:
    async def scenario() -> None:
        registry = SessionRegistry(ttl_s=0.05, replay_capacity=16)
        session = registry.create("default")
        conn = object()
        registry.attach(session, conn)
        assert registry.find(session.resume_token) is session and len(registry) == 1
        registry.detach(session, object())  # not its connection: ignored
        assert session.conn is conn and registry.detached == 0
        registry.detach(session, conn)
        assert session.conn is None and registry.detached == 1
        await asyncio.sleep(0.1)
        assert registry.find(session.resume_token) is None
        assert (len(registry), registry.detached) == (0, 0)

    asyncio.run(scenario())


def test_registry_attach_cancels_expiry_and_adopt_aliases_the_token() -> None:
    async def scenario() -> None:
        registry = SessionRegistry(ttl_s=0.05, replay_capacity=16)
        old, fresh = registry.create("default"), registry.create("default")
        registry.attach(old, "c1")
        registry.detach(old, "c1")
        registry.adopt(old, fresh)
        registry.attach(old, "c2")
        await asyncio.sleep(0.1)
        assert registry.find(old.resume_token) is old  # the resume stopped the expiry
        assert registry.find(fresh.resume_token) is old  # the fresh token now leads to the old session
        assert (len(registry), registry.detached) == (1, 0)

    asyncio.run(scenario())


def test_registry_discard_cancels_turns() -> None:
    async def scenario() -> None:
        registry = SessionRegistry(ttl_s=10, replay_capacity=16)
        session = registry.create("default")
        task = asyncio.ensure_future(asyncio.sleep(10))
        session.track(task)
        assert session.busy
        registry.discard(session)
        await asyncio.wait({task})
        await asyncio.sleep(0)  # done callbacks run one loop iteration later
        assert task.cancelled() and session.turns is None
        assert registry.find(session.resume_token) is None

    asyncio.run(scenario())


def test_replay_buffer_bounds_bytes_as_well_as_frames() -> None:
    """A session's replay buffer held 4096 frames whatever their size: 12 MB per session of 3 KB
    frames, kept after its client stopped reading (found by the fuzz suite's RSS bound)."""
    buffer = ReplayBuffer(100, max_bytes=10)
    for _ in range(1, 6):
        buffer.append("abcd")  # 4 bytes each: two fit
    assert (buffer.first_seq, buffer.last_seq, buffer.bytes) == (4, 5, 8)
    assert buffer.since(3) == ["abcd", "abcd"] and buffer.since(2) is None
    buffer.append("x" * 11)  # larger than the bound on its own: nothing is kept, the seq still counts
    assert (len(buffer), buffer.bytes, buffer.last_seq, buffer.since(6)) == (0, 0, 6, [])
    frames_only = ReplayBuffer(2)
    for text in ("a", "bb", "ccc"):
        frames_only.append(text)
    assert (len(frames_only), frames_only.bytes) == (2, 5)


def test_registry_evicts_the_longest_detached_session_beyond_its_bound() -> None:
    async def scenario() -> None:
        evicted: list[int] = []
        registry = SessionRegistry(ttl_s=10, replay_capacity=16, max_detached=2, on_evict=lambda: evicted.append(1))
        sessions = [registry.create("default") for _ in range(3)]
        for number, session in enumerate(sessions):
            registry.attach(session, number)
        for number, session in enumerate(sessions):
            registry.detach(session, number)
        assert registry.find(sessions[0].resume_token) is None and len(evicted) == 1
        assert registry.detached == 2 and len(registry) == 2
        registry.attach(sessions[1], "back")
        assert registry.detached == 1
        registry.close_all()

    asyncio.run(scenario())
