"""The prefix-cache and context arithmetic of the prefill model (pure)."""

from __future__ import annotations

import pytest

from reference_server.context import (
    CHARS_PER_TOKEN,
    CacheStore,
    Conversation,
    Prefill,
    PrefixCache,
    bound_messages,
    context_tokens,
    count_tokens,
    message,
    over_budget,
    turns_beyond,
)

SYSTEM = message("system", "you are terse")  # 3 tokens
U1, A1 = message("user", "one two"), message("assistant", "tok0 tok1 tok2 ")
U2, A2 = message("user", "three four five"), message("assistant", "tok0 ")
U3 = message("user", "six")


def test_the_token_rule_counts_whitespace_separated_words() -> None:
    assert count_tokens("  one two\tthree\nfour ") == 4 and count_tokens("") == 0
    assert message("user", "a b c").tokens == 3
    assert context_tokens([SYSTEM, U1, A1]) == 3 + 2 + 3


def test_an_empty_cache_holds_nothing() -> None:
    assert PrefixCache().lookup([SYSTEM, U1]) == Prefill(5, 0)


def test_the_next_turn_finds_the_last_context_and_its_reply_cached() -> None:
    cache = PrefixCache()
    cache.store([SYSTEM, U1], "tok0 tok1 tok2 ")  # the reply becomes A1
    prefill = cache.lookup([SYSTEM, U1, A1, U2])
    assert prefill == Prefill(3 + 2 + 3 + 3, 3 + 2 + 3) and prefill.uncached_tokens == 3
    assert len(cache) == 3


def test_a_changed_system_prompt_misses_from_message_zero() -> None:
    cache = PrefixCache()
    cache.store([SYSTEM, U1], "tok0 tok1 tok2 ")
    other = message("system", "you are verbose")
    assert cache.lookup([other, U1, A1, U2]) == Prefill(11, 0)


def test_the_match_stops_at_the_first_differing_message() -> None:
    cache = PrefixCache()
    cache.store([SYSTEM, U1], "tok0 tok1 tok2 ")
    edited = message("assistant", "tok0 tok1 tok9 ")  # same length, other content
    assert cache.lookup([SYSTEM, U1, edited, U2]).cached_tokens == 5
    assert cache.lookup([SYSTEM, message("assistant", "one two"), A1]).cached_tokens == 3  # the role counts too


def test_a_dropped_turn_breaks_the_prefix_after_the_system_prompt() -> None:
    cache = PrefixCache()
    cache.store([SYSTEM, U1, A1, U2], "tok0 ")
    assert cache.lookup([SYSTEM, U2, A2, U3]).cached_tokens == 3


def test_prefill_ms_is_per_thousand_uncached_tokens() -> None:
    assert Prefill(1500, 500).ms(200.0) == pytest.approx(200.0)
    assert Prefill(1500, 0).ms(0.0) == 0.0


def test_turns_beyond_keeps_the_last_turns() -> None:
    history = [U1, A1, U2, A2]
    assert turns_beyond(history, 5) == 0 and turns_beyond(history, 2) == 0
    assert turns_beyond(history, 1) == 2 and turns_beyond(history, 0) == 4
    assert turns_beyond([A1, U2, A2], 1) == 1  # a leading reply counts as a turn of its own


def test_over_budget_drops_whole_turns_oldest_first() -> None:
    history = [U1, A1, U2, A2]  # 5 + 4 tokens
    fixed = [message("user", "a b c d")]
    assert over_budget(history, fixed, 13) == 0
    assert over_budget(history, fixed, 12) == 2  # the first turn (5 tokens) goes
    assert over_budget(history, fixed, 8) == 2
    assert over_budget(history, fixed, 7) == 4  # both go
    assert over_budget(history, [message("user", "w " * 20)], 8) == 4  # never more than the history


def test_over_budget_also_bounds_the_characters() -> None:
    long_word = message("user", "x" * (CHARS_PER_TOKEN * 10))  # one token of 160 characters
    history = [long_word, A1, U2, A2]
    assert over_budget(history, [U3], 100) == 0  # 9 tokens, 198 characters
    assert over_budget(history, [U3], 13) == 0  # 208 characters fit
    assert over_budget(history, [U3], 12) == 2  # the 9 tokens fit in 12, the 198 characters not in 192


def test_bound_messages_keeps_the_system_prompt_and_the_new_message() -> None:
    messages = [SYSTEM, U1, A1, U2, A2, U3]  # 3 + 5 + 4 + 1 = 13 tokens
    assert bound_messages(messages, 13) == (messages, 0)
    assert bound_messages(messages, 12) == ([SYSTEM, U2, A2, U3], 2)
    assert bound_messages(messages, 1) == ([SYSTEM, U3], 4)
    assert bound_messages([U3], 0) == ([U3], 0)


def test_cache_store_is_a_bounded_lru() -> None:
    store = CacheStore(2)
    a = store.get("a")
    assert store.get("a") is a
    store.get("b")
    store.get("a")  # a is now the most recent
    store.get("c")  # evicts b
    assert len(store) == 2 and store.get("a") is a
    b = store.get("b")  # a new one: b had gone, and c is evicted for it
    assert len(b) == 0 and len(store) == 2
    unbounded = CacheStore(0)
    for key in map(str, range(100)):
        unbounded.get(key)
    assert len(unbounded) == 100


def test_a_conversation_keeps_completed_turns_and_its_system_prompt() -> None:
    conversation = Conversation()
    conversation.set_system("you are terse")
    first = conversation.context(U1, 1000)
    assert first == [SYSTEM, U1] and conversation.history == []  # not before it completed
    conversation.complete(conversation.epoch, U1, "tok0 tok1 tok2 ")
    assert conversation.context(U2, 1000) == [SYSTEM, U1, A1, U2]
    conversation.keep(0)
    assert conversation.context(U2, 1000) == [SYSTEM, U2]


def test_a_conversation_drops_the_oldest_turns_beyond_max_tokens() -> None:
    conversation = Conversation()
    conversation.complete(0, U1, A1.content)
    conversation.complete(0, U2, A2.content)
    assert conversation.context(U3, 10) == [U1, A1, U2, A2, U3]  # 10 tokens fit
    assert conversation.context(U3, 9) == [U2, A2, U3]
    assert conversation.history == [U2, A2]  # dropped for good


def test_a_reset_forgets_the_turns_and_the_system_prompt_and_ignores_older_turns() -> None:
    conversation = Conversation()
    conversation.set_system("you are terse")
    old = conversation.epoch
    conversation.reset()
    conversation.complete(old, U1, A1.content)  # a turn of the old conversation ends late
    assert conversation.context(U2, 1000) == [U2]
    conversation.set_system("")
    assert conversation.system is None


@pytest.mark.parametrize("cache_on", [True, False], ids=["cache-on", "cache-off"])
def test_the_worked_example_of_protocol_md(cache_on: bool) -> None:
    """PROTOCOL.md's worked example: P = 200, a 1000-token system prompt, 50-token prompts, 20-token replies."""
    conversation, reply = Conversation(), "".join(f"tok{i} " for i in range(20))
    conversation.set_system(" ".join(["word"] * 1000))
    figures = []
    for turn in range(3):
        user = message("user", " ".join([f"u{turn}"] * 50))
        context = conversation.context(user, 32768)
        prefill = conversation.cache.lookup(context) if cache_on else Prefill(context_tokens(context))
        figures.append((prefill.input_tokens, prefill.cached_tokens, 20 + prefill.ms(200.0)))
        conversation.cache.store(context, reply)
        conversation.complete(conversation.epoch, user, reply)
    if cache_on:
        assert figures == [(1050, 0, 230.0), (1120, 1070, 30.0), (1190, 1140, 30.0)]
    else:
        assert figures == [(1050, 0, 230.0), (1120, 0, 244.0), (1190, 0, 258.0)]
