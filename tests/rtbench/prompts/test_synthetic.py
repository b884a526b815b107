"""Synthetic prompts: exactly the asked-for tokens (words, or a tokenizer's), from the corpus,
each opening with its own tag; the shared prefix is the same in every process for a seed."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from support.tokenizer_files import bpe_tokenizer, word_level_tokenizer

from rtbench.prompts.corpus import corpus_words
from rtbench.prompts.synthetic import SyntheticText
from rtbench.prompts.tokens import load_tokenizer
from rtbench.protocols.context import count_tokens

SIZES = [*range(1, 40), 100, 257, 800, 3000, 9000]  # 9000 words wrap around the corpus


def test_a_prompt_has_exactly_the_asked_for_words_from_the_corpus_after_a_tag() -> None:
    synthetic, rng = SyntheticText(), random.Random(5)
    corpus = " ".join(corpus_words() * 3)
    for tokens in SIZES:
        text = synthetic.text(tokens, rng)
        assert count_tokens(text) == tokens
        if tokens > 1:
            tag, _, passage = text.partition(" ")
            assert len(tag) == 10 and int(tag, 16) >= 0 and passage in corpus


def test_with_a_tokenizer_a_prompt_is_exactly_the_asked_for_tokens_by_it(tmp_path: Path) -> None:
    for path in (word_level_tokenizer(tmp_path), bpe_tokenizer(tmp_path)):
        counter = load_tokenizer(str(path))
        synthetic, rng = SyntheticText(counter=counter), random.Random(9)
        for tokens in SIZES[:-1]:
            assert counter.count(synthetic.text(tokens, rng)) == tokens, (path.name, tokens)
        assert counter.count(synthetic.prefix(300, seed=4)) == 300


def test_no_two_prompts_share_a_first_word() -> None:
    synthetic, rng = SyntheticText(), random.Random(1)
    firsts = [synthetic.text(50, rng).split()[0] for _ in range(2000)]
    assert len(set(firsts)) == len(firsts)


def test_the_prefix_is_the_same_for_a_seed_in_another_process_and_differs_by_seed() -> None:
    synthetic = SyntheticText()
    prefix = synthetic.prefix(120, seed=11)
    assert count_tokens(prefix) == 120 and prefix.split()[0] in corpus_words()
    code = "from rtbench.prompts.synthetic import SyntheticText; print(SyntheticText().prefix(120, seed=11))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == prefix
    assert synthetic.prefix(120, seed=12) != prefix and synthetic.prefix(120, None) == synthetic.prefix(120, None)
    assert synthetic.prefix(0, seed=11) == ""
