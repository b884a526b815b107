"""The conversation a user holds: history, window, token bound and system prompt (pure)."""

from __future__ import annotations

from rtbench.load.conversation import Conversation
from rtbench.protocols.context import Message


def _talk(conversation: Conversation, n: int) -> list[list[Message]]:
    """`n` turns, each completed with an answer naming it; the messages each turn sent."""
    sent = []
    for i in range(1, n + 1):
        context = conversation.next_turn(f"question {i}")
        sent.append(context.messages())
        conversation.complete(f"question {i}", f"answer {i} \u00fc\n")
    return sent


def test_full_history_resends_every_turn_with_the_exact_answers() -> None:
    conversation = Conversation(None, None, "u1")
    conversation.set_persona("Be brief.")
    conversation.start(3)
    sent = _talk(conversation, 3)
    assert [len(messages) for messages in sent] == [2, 4, 6]
    assert sent[2] == [
        Message("system", "Be brief."),
        Message("user", "question 1"),
        Message("assistant", "answer 1 \u00fc\n"),
        Message("user", "question 2"),
        Message("assistant", "answer 2 \u00fc\n"),
        Message("user", "question 3"),
    ]
    assert conversation.ended


def test_a_window_keeps_the_last_turns_and_none_keeps_nothing() -> None:
    window = Conversation(2, None)
    window.start(5)
    sent = _talk(window, 5)
    assert [len(messages) for messages in sent] == [1, 3, 5, 5, 5]
    assert sent[4][0] == Message("user", "question 3")
    none = Conversation(0, None)
    none.start(3)
    assert [len(messages) for messages in _talk(none, 3)] == [1, 1, 1]


def test_the_token_bound_drops_the_oldest_turns_and_counts_them() -> None:
    # system 2 tokens, each question 2, each answer 3 ("answer N ü"): a turn is 5 tokens.
    conversation = Conversation(None, 14)
    conversation.set_persona("Be brief.")
    conversation.start(4)
    context = None
    truncated = []
    for i in range(1, 5):
        context = conversation.next_turn(f"question {i}")
        truncated.append(conversation.truncated)
        conversation.complete(f"question {i}", f"answer {i} \u00fc\n")
    assert context is not None
    # turn 4: 2 + 3 * 5 + 2 = 19 > 14: drop turn 1 -> 14 tokens
    assert truncated == [0, 0, 0, 1]
    assert context.kept_turns == 2 and context.dropped_turns == 1
    assert context.history[0] == Message("user", "question 2")


def test_the_system_prompt_is_marked_changed_on_a_first_turn_and_after_a_switch_only() -> None:
    conversation = Conversation(None, None, "u7")
    conversation.set_persona("A", "model-a")
    conversation.start(4)
    changed = []
    for i in range(4):
        if i == 2:
            conversation.set_persona("B")
        context = conversation.next_turn("q")
        changed.append(context.system_changed)
        conversation.complete("q", "a")
    assert changed == [True, False, True, False]
    assert context.system == "B" and context.model is None and context.session == "u7"
    conversation.start(2)
    context = conversation.next_turn("q")
    assert context.new_conversation and context.system_changed and context.history == ()


def test_a_failed_turn_is_not_in_the_history() -> None:
    conversation = Conversation(None, None)
    conversation.start(3)
    conversation.next_turn("lost")  # never completed
    context = conversation.next_turn("second")
    assert context.turn == 2 and context.history == ()
