"""Master side: notice a lost worker within seconds, forget it, and hand its users to the others.

A worker is lost when its process exits before the run asks it to (local workers, seen through
their PIDs), when it sends nothing for `SILENCE_S` (a hung, stopped or unreachable process; Locust
itself would wait 60 s), or when it quits on its own. A lost worker is forgotten at once:

- Locust's master drops it from its worker list and its dispatcher, so the user count and the next
  dispatch leave it out;
- its gauges leave the merged ones, and what it ships later is dropped and counted
  (`shipping.MasterReceiving.forget`);
- it is told so (`watchdog.LOST`), and a local one that is still there (stopped) is killed;
- its users are handed to the workers left: Locust 2.47 rebalances on a lost worker only with
  `--enable-rebalancing`, so the watch starts the same user count again, which dispatches the
  lost worker's share to the others at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from locust.exception import RPCError
from locust.runners import STATE_MISSING, STATE_RUNNING, MasterRunner

from rtbench.load.distributed.handshake import ConfigDistribution
from rtbench.load.distributed.pool import WorkerPool
from rtbench.load.distributed.shipping import MasterReceiving
from rtbench.load.distributed.watchdog import LOST

__all__ = ["SILENCE_S", "LostWorker", "WorkerWatch"]

#: Seconds without a heartbeat or a report after which a worker is lost (each comes every 1 s).
SILENCE_S = 3.0
#: A gap between two checks longer than this means the master itself was stalled: silence is then
#: counted from the end of the stall, since the master may not have read what workers sent.
STALL_S = 2.0


@dataclass(frozen=True)
class LostWorker:
    """One lost worker, as the timeline and the console state it."""

    name: str
    #: The event kind: `worker_crash` (it exited or quit) or `worker_lost` (it went silent).
    kind: str
    #: One line: what happened, and where its users went.
    detail: str


def _exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class WorkerWatch:
    """Checked once a tick by the run (`check`); knows every worker lost so far (`lost`)."""

    def __init__(
        self,
        runner: MasterRunner,
        receiving: MasterReceiving,
        roster: ConfigDistribution,
        pool: WorkerPool | None = None,
        silence_s: float = SILENCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runner = runner
        self._receiving = receiving
        self._roster = roster
        self._pool = pool
        self._silence_s = silence_s
        self._clock = clock
        self._last_seen: dict[str, float] = {}
        self._last_check: float | None = None
        self._floor = clock()
        self._lost_ids: set[str] = set()
        self._lost_pids: set[int] = set()
        self._hand_over_pending = False
        self._handing_over: gevent.Greenlet | None = None
        #: Workers connected when the load started (`started`), and every worker lost since.
        self.started = 0
        self.lost: list[LostWorker] = []
        events = runner.environment.events
        events.heartbeat_sent.add_listener(lambda client_id, timestamp: self._seen(client_id))
        events.worker_report.add_listener(lambda client_id, data: self._seen(client_id))

    @property
    def all_lost(self) -> bool:
        return bool(self.started) and len(self.lost) >= self.started

    def partial_reason(self) -> str | None:
        """What the run's `partial_reason` says of its lost workers, or None if none was lost."""
        if not self.lost:
            return None
        names = ", ".join(w.name for w in self.lost)
        if self.all_lost:
            return f"every worker was lost: {names}"
        return f"lost {len(self.lost)} of {self.started} workers: {names}"

    def notes(self) -> list[str]:
        """One line per lost worker that shipped intervals after it was lost (dropped, not merged)."""
        notes = []
        for client_id, dropped in self._receiving.dropped.items():
            if dropped.intervals:
                notes.append(
                    f"{self._name(client_id, None)} shipped {dropped.intervals} intervals after it was lost"
                    f" ({dropped.counters['turns_sent']} turns sent, {dropped.counters['turns_completed']}"
                    " completed): dropped, not merged"
                )
        return notes

    def check(self, hand_over: bool = True) -> list[LostWorker]:
        """The workers lost since the last check, each forgotten already. With `hand_over`, their
        users go to the workers left (now, or as soon as the current dispatch is over)."""
        now = self._clock()
        if self._last_check is not None and now - self._last_check > STALL_S:
            self._floor = now
        self._last_check = now
        found: list[LostWorker] = []
        if self._pool is not None:
            for pid, code in self._pool.exited().items():
                if pid not in self._lost_pids:
                    client_id = self._roster.client_of(pid)
                    found.append(self._forget(client_id, pid, "worker_crash", f"exited ({_exit_text(code)})"))
        for client_id in list(self._runner.clients):
            node = self._runner.clients.get(client_id)
            if node is None or client_id in self._lost_ids:
                continue
            silent = now - max(self._last_seen.setdefault(client_id, now), self._floor)
            if silent > self._silence_s or node.state == STATE_MISSING:
                what = f"stopped sending heartbeats ({silent:.1f} s without one)"
                found.append(self._forget(client_id, None, "worker_lost", what))
        if self._runner.state == STATE_RUNNING:
            for client_id in self._roster.workers:
                if client_id not in self._runner.clients and client_id not in self._lost_ids:
                    found.append(self._forget(client_id, None, "worker_crash", "quit before the run asked it to"))
        self.lost += found
        if found and self._runner._users_dispatcher is not None:
            self._hand_over_pending = True
        if hand_over:
            self._hand_over()
        return found

    def _seen(self, client_id: str) -> None:
        self._last_seen[client_id] = self._clock()

    def _name(self, client_id: str | None, pid: int | None) -> str:
        who = self._roster.workers.get(client_id) if client_id is not None else None
        pid = pid if pid is not None else who.pid if who is not None else None
        if self._pool is not None and pid in self._pool.pids:
            return f"worker process {pid}"
        if who is not None and who.host is not None:
            return f"worker {who.host} (pid {pid})"
        return f"worker {client_id}"

    def _forget(self, client_id: str | None, pid: int | None, kind: str, what: str) -> LostWorker:
        name = self._name(client_id, pid)
        runner = self._runner
        users = 0
        if client_id is not None:
            self._lost_ids.add(client_id)
            who = self._roster.workers.get(client_id)
            pid = pid if pid is not None else who.pid if who is not None else None
            node = runner.clients.get(client_id)
            if node is not None:
                users = node.user_count
                del runner.clients[client_id]
                if runner._users_dispatcher is not None:
                    runner._users_dispatcher.remove_worker(node)
            self._receiving.forget(client_id)
            try:
                runner.send_message(LOST, None, client_id=client_id)
            except RPCError:
                pass  # gone for good: nothing to tell
        if pid is not None:
            self._lost_pids.add(pid)
            if self._pool is not None:
                self._pool.kill(pid)  # a stopped local worker must not come back with its users
        left = runner.worker_count
        others = "the other worker" if left == 1 else f"the {left} other workers"
        users_text = f"its {users} users go to {others}" if left else "no worker is left"
        return LostWorker(name, kind, f"{name} {what}; {users_text}")

    def _hand_over(self) -> None:
        """Start the same user count again: Locust dispatches a lost worker's share to the rest."""
        runner = self._runner
        dispatcher = runner._users_dispatcher
        busy = self._handing_over is not None and not self._handing_over.ready()
        if not self._hand_over_pending or busy or runner.worker_count == 0 or dispatcher is None:
            return
        if runner.state != STATE_RUNNING or dispatcher.dispatch_in_progress:
            return  # a dispatch under way takes the loss into account; otherwise, at the next check
        self._hand_over_pending = False
        # in the runner's group, so that the run's quit ends it
        self._handing_over = runner.greenlet.spawn(runner.start, runner.target_user_count, runner.spawn_rate)
