"""Think time and pacing: staggered users stay staggered."""

from __future__ import annotations

import random

from rtbench.config import ThinkTime
from rtbench.load.pacing import Pacer


def test_think_time_counts_from_the_end_of_a_turn() -> None:
    pacer = Pacer(ThinkTime(2.0, 2.0), random.Random(1))
    pacer.turn_started(10.0)
    assert pacer.wait_after_turn(10.5) == 2.0


def test_pacing_counts_from_the_start_of_a_turn() -> None:
    pacer = Pacer(ThinkTime(3.0, 3.0, pacing=True), random.Random(1))
    pacer.turn_started(10.0)
    assert pacer.wait_after_turn(10.5) == 2.5
    pacer.turn_started(13.0)
    assert pacer.wait_after_turn(17.0) == 0.0  # a slow turn: go again at once


def test_staggered_paced_users_do_not_line_up() -> None:
    """Users created together, delayed at random, then paced: their second prompts stay spread."""
    think = ThinkTime(30.0, 30.0, pacing=True)
    second_prompts = []
    for seed in range(200):
        pacer = Pacer(think, random.Random(seed))
        first = pacer.initial_delay()  # every user was created at t = 0
        pacer.turn_started(first)
        end_of_turn = first + 0.3
        second_prompts.append(end_of_turn + pacer.wait_after_turn(end_of_turn))
    second_prompts.sort()
    # spread over the whole 30 s window, not bunched at one instant
    assert second_prompts[-1] - second_prompts[0] > 25.0
    busiest_second = max(sum(1 for t in second_prompts if s <= t < s + 1) for s in range(30, 61))
    assert busiest_second < 25
