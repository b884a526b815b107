"""A fixed amount of work (`--requests N`, `--conversations N`), split exactly over the load processes.

Each process holds its share as a `Quota`. A user takes a ticket before it sends a turn (or
starts a conversation) and gives it back as finished once that turn (or the conversation's last
turn) has ended; with no ticket left, the user sends nothing more. A process is done once its
share is taken and every ticket finished; the run ends by itself once every process is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtbench.metrics.names import FAILURE_KINDS, failure_counter

__all__ = ["ENDED_TURNS", "FixedWork", "Quota", "UserTickets", "share_of", "every_process_done"]

#: The counters of turns that ended with an answer or a failure (not cancelled at the stop).
ENDED_TURNS = ("turns_completed", *(failure_counter(kind) for kind in FAILURE_KINDS))


def share_of(total: int, processes: int, index: int) -> int:
    """Process `index`'s share of `total` over `processes` (the shares add up to `total` exactly;
    the first `total % processes` processes take one more). An index out of range gets none."""
    if not 0 <= index < processes:
        return 0
    base, extra = divmod(total, processes)
    return base + (1 if index < extra else 0)


class Quota:
    """One process's share of the work: tickets taken, and those still open (not yet finished)."""

    __slots__ = ("share", "taken", "open")

    def __init__(self, share: int) -> None:
        self.share = share
        self.taken = 0
        self.open = 0

    def take(self) -> bool:
        """A ticket for one turn (or conversation); False once the share is used up."""
        if self.taken >= self.share:
            return False
        self.taken += 1
        self.open += 1
        return True

    def finish(self) -> None:
        """The work of one ticket has ended (however it ended)."""
        self.open = max(0, self.open - 1)

    @property
    def exhausted(self) -> bool:
        """No ticket left to take."""
        return self.taken >= self.share

    @property
    def done(self) -> bool:
        """Every ticket taken, and the work of each has ended."""
        return self.exhausted and self.open == 0

    def gauge(self) -> dict[str, int]:
        """What the process reports each second (`every_process_done` reads it)."""
        return {"share": self.share, "taken": self.taken, "open": self.open}


class UserTickets:
    """One user's tickets of its process's `Quota`: one a turn with `--requests`; with
    `--conversations`, one a conversation, taken at its first turn and given back after its last."""

    __slots__ = ("_quota", "_by_conversation", "_holds_conversation")

    def __init__(self, quota: Quota | None, by_conversation: bool) -> None:
        self._quota = quota
        self._by_conversation = by_conversation
        self._holds_conversation = False  # a conversation's ticket taken, not yet given back

    def out_of_work(self) -> bool:
        """The process's share is used up and this user holds no conversation to finish."""
        quota = self._quota
        return quota is not None and quota.exhausted and not self._holds_conversation

    def take(self, starts_conversation: bool | None) -> bool:
        """A ticket for the turn about to be sent (`starts_conversation`: whether it starts one;
        None for a user without conversations); False when none is left."""
        quota = self._quota
        if quota is None:
            return True
        if not self._by_conversation or starts_conversation is None:
            return quota.take()
        if not starts_conversation:
            return True
        if self._holds_conversation:  # the server lost it: it ends here, unfinished
            self._holds_conversation = False
            quota.finish()
        self._holds_conversation = quota.take()
        return self._holds_conversation

    def end(self, all_sent: bool | None) -> bool:
        """The turn has ended: so has its ticket, or its conversation's once `all_sent` (None for a
        user without conversations). True when a conversation's ticket was given back."""
        quota = self._quota
        if quota is None:
            return False
        if not self._by_conversation or all_sent is None:
            quota.finish()
        elif self._holds_conversation and all_sent:
            self._holds_conversation = False
            quota.finish()
            return True
        return False


def every_process_done(gauges: Iterable[Mapping[str, Any] | None], processes: int) -> bool:
    """Whether `processes` load processes have reported (`Quota.gauge`) and each is done."""
    reported = [g for g in gauges if g is not None]
    return len(reported) >= processes > 0 and all(g["taken"] >= g["share"] and g["open"] == 0 for g in reported)


class FixedWork:
    """The run's side of a fixed amount of work: whether it has all ended, and how much of it had
    when the run stopped early."""

    def __init__(self, work: tuple[str, int] | None) -> None:
        """`work`: `LoadConfig.fixed_work` (None: the run lasts its duration)."""
        self.work = work
        self.done = False

    def check(self, own: Mapping[str, Any], receiving: Any, runner: Any) -> None:
        """Mark the work done once every load process has done its share: this one's `own`
        gauges, or with workers (`receiving`: `MasterReceiving`), each worker's latest."""
        if self.work is None or self.done:
            return
        if receiving is None:
            self.done = every_process_done([own.get("quota")], 1)
        else:
            shares = [gauges.get("quota") for gauges in receiving.gauges.values()]
            self.done = every_process_done(shares, runner.worker_count)

    def past_limit(self, duration: float) -> str | None:
        """Why a run that reached its duration stopped early: the work was not done."""
        if self.work is None or self.done:
            return None
        return f"the safety limit of {duration:g} s was reached"

    def explain(self, reason: str | None, counters: Mapping[str, int]) -> str | None:
        """The partial `reason` of a run stopped early, with how much of the work was done, from
        the run's counters: " (37 of 100 requests done)"."""
        if self.work is None or reason is None:
            return reason
        unit, total = self.work
        if unit == "requests":
            done = sum(counters.get(name, 0) for name in ENDED_TURNS)
        else:
            done = counters.get("conversations_ended", 0)
        return f"{reason} ({done:,} of {total:,} {unit} done)"
