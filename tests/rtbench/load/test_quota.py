"""`rtbench.load.quota`: a fixed amount of work split exactly over the load processes (pure)."""

from __future__ import annotations

import pytest

from rtbench.load.quota import ENDED_TURNS, FixedWork, Quota, UserTickets, every_process_done, share_of


@pytest.mark.parametrize(("total", "processes"), [(1, 1), (1, 2), (41, 2), (100, 3), (7, 7), (5, 8)])
def test_shares_add_up_to_the_total_exactly(total: int, processes: int) -> None:
    shares = [share_of(total, processes, i) for i in range(processes)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
    assert share_of(total, processes, processes) == 0  # a process beyond the run's gets none


def test_a_quota_hands_out_its_share_then_nothing() -> None:
    quota = Quota(2)
    assert quota.take() and quota.take()
    assert not quota.take() and quota.exhausted and not quota.done
    quota.finish()
    assert not quota.done and quota.gauge() == {"share": 2, "taken": 2, "open": 1}
    quota.finish()
    assert quota.done


def test_the_run_is_done_only_when_every_process_reported_done() -> None:
    done = {"share": 3, "taken": 3, "open": 0}
    busy = {"share": 3, "taken": 3, "open": 1}
    assert every_process_done([done, done], 2)
    assert not every_process_done([done], 2)  # a worker not heard from yet
    assert not every_process_done([done, busy], 2)
    assert not every_process_done([done, None], 2)
    assert not every_process_done([], 0)


class _Receiving:
    def __init__(self, *quotas: dict[str, int]) -> None:
        self.gauges = {f"w{i}": {"quota": q} for i, q in enumerate(quotas)}


class _Runner:
    worker_count = 2


def test_fixed_work_watches_the_local_process_or_every_worker() -> None:
    work = FixedWork(("requests", 6))
    work.check({"quota": {"share": 6, "taken": 6, "open": 1}}, None, None)
    assert not work.done
    work.check({"quota": {"share": 6, "taken": 6, "open": 0}}, None, None)
    assert work.done
    workers = FixedWork(("requests", 6))
    workers.check({}, _Receiving({"share": 3, "taken": 3, "open": 0}), _Runner())
    assert not workers.done  # one of two workers reported
    workers.check({}, _Receiving(*[{"share": 3, "taken": 3, "open": 0}] * 2), _Runner())
    assert workers.done


def test_a_run_stopped_early_says_how_much_was_done() -> None:
    counters = {"turns_sent": 12, "turns_completed": 9, ENDED_TURNS[1]: 1, "turns_cancelled": 2}
    work = FixedWork(("requests", 40))
    assert work.explain("interrupted", counters) == "interrupted (10 of 40 requests done)"
    assert work.explain(None, counters) is None
    assert work.past_limit(30.0) == "the safety limit of 30 s was reached"
    talks = FixedWork(("conversations", 5))
    assert talks.explain("target down", {"conversations_ended": 3}) == "target down (3 of 5 conversations done)"
    assert FixedWork(None).explain("interrupted", counters) == "interrupted"
    assert FixedWork(None).past_limit(30.0) is None


def test_user_tickets_take_one_a_turn_or_one_a_conversation() -> None:
    turns = UserTickets(Quota(2), by_conversation=False)
    assert turns.take(None) and turns.take(True) and not turns.take(None)
    assert not turns.end(None) and turns.out_of_work()
    quota = Quota(1)
    talks = UserTickets(quota, by_conversation=True)
    assert talks.take(True)  # the first turn of a conversation takes the ticket
    assert talks.take(False) and not talks.out_of_work()  # later turns ride on it, the share used up
    assert not talks.end(False) and not quota.done
    assert talks.end(True) and quota.done and talks.out_of_work()  # given back after the last turn
    assert UserTickets(None, by_conversation=True).take(True) and not UserTickets(None, False).out_of_work()
