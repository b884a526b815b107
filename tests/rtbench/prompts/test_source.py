"""The prompt source of a load process: dataset items in order (wrapping), synthetic prompts of
the drawn sizes, texts at random, output caps drawn per turn, and the shared prefix."""

from __future__ import annotations

import random
from pathlib import Path

from support.tokenizer_files import word_level_tokenizer

from rtbench.prompts.config import PromptsConfig
from rtbench.prompts.dataset import Script
from rtbench.prompts.source import PromptSource


def test_a_dataset_is_handed_out_in_order_and_wraps(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("one\ntwo\nthree\n")
    source = PromptSource(PromptsConfig(file=str(tmp_path / "p.txt")), random.Random(1))
    got = [source.next_script().user_turns[0] for _ in range(7)]
    assert got == ["one", "two", "three", "one", "two", "three", "one"]
    assert source.from_dataset and not source.converses and source.counter.method == "estimate"


def test_load_processes_split_a_dataset_so_that_together_they_replay_it_once(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("".join(f"p{i}\n" for i in range(7)))
    config = PromptsConfig(file=str(tmp_path / "p.txt"))
    firsts = []
    for index in range(3):
        source = PromptSource(config, random.Random(1), share=(index, 3))
        firsts.append([source.next_script().user_turns[0] for _ in range(4)])
    assert firsts == [["p0", "p3", "p6", "p0"], ["p1", "p4", "p1", "p4"], ["p2", "p5", "p2", "p5"]]
    one_item = PromptSource(PromptsConfig(file=str(tmp_path / "p.txt")), random.Random(1), share=(9, 10))
    assert one_item.next_script().user_turns[0] == "p2"  # fewer items than processes: by the index modulo


def test_synthetic_prompts_have_the_drawn_sizes_and_caps_are_drawn_per_turn() -> None:
    config = PromptsConfig(input_tokens="uniform:5:7", max_tokens="uniform:1:3")
    source, rng = PromptSource(config, random.Random(2)), random.Random(3)
    sizes = {len(source.next_script().user_turns[0].split()) for _ in range(200)}
    assert sizes == {5, 6, 7}
    assert {source.max_tokens(rng) for _ in range(100)} == {1, 2, 3}
    assert PromptSource(PromptsConfig(max_tokens=9), rng).max_tokens(rng) == 9
    assert PromptSource(PromptsConfig(), rng).max_tokens(rng) is None


def test_texts_are_picked_from_the_list() -> None:
    source = PromptSource(PromptsConfig(texts=("a", "b")), random.Random(4))
    assert {source.next_script() for _ in range(50)} == {Script(None, ("a",)), Script(None, ("b",))}
    assert source.prefix == "" and source.with_prefix("x") == "x"


def test_the_prefix_is_the_runs_and_counted_by_the_tokenizer(tmp_path: Path) -> None:
    tokenizer = str(word_level_tokenizer(tmp_path))
    config = PromptsConfig(prefix_tokens=25, tokenizer=tokenizer)
    one, other = PromptSource(config, random.Random(1), seed=3), PromptSource(config, random.Random(2), seed=3)
    assert one.prefix == other.prefix and one.counter.count(one.prefix) == 25
    assert one.counter.method == "tokenizer"
    assert one.with_prefix("hello") == f"{one.prefix}\n\nhello"
