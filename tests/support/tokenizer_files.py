"""Small tokenizer.json files built with the `tokenizers` library itself, so that token counts in
tests are exact and checkable without a model's tokenizer.

    path = word_level_tokenizer(tmp_path)   # a token per word and per run of punctuation
    path = bpe_tokenizer(tmp_path)          # byte-pair merges learnt from the corpus
"""

from __future__ import annotations

import re
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from rtbench.prompts.corpus import corpus_words

__all__ = ["bpe_tokenizer", "whitespace_pieces", "word_level_tokenizer"]

#: The `Whitespace` pre-tokenizer's rule: runs of word characters, and runs of other non-space ones.
_PIECES = re.compile(r"\w+|[^\w\s]+")


def whitespace_pieces(text: str) -> list[str]:
    """The pieces `Whitespace` splits `text` into: each is one token of `word_level_tokenizer`."""
    return _PIECES.findall(text)


def word_level_tokenizer(folder: Path) -> Path:
    """A WordLevel tokenizer over the corpus's pieces (unknown pieces are one `[UNK]` token)."""
    vocab = {"[UNK]": 0}
    for word in corpus_words():
        for piece in whitespace_pieces(word):
            vocab.setdefault(piece, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    path = folder / "word-level-tokenizer.json"
    tokenizer.save(str(path))
    return path


def bpe_tokenizer(folder: Path, vocab_size: int = 600) -> Path:
    """A byte-level BPE tokenizer trained on the corpus: words split into several tokens, and a
    cut word may come out as more tokens than it was inside the text."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator([" ".join(corpus_words())], trainer)
    path = folder / "bpe-tokenizer.json"
    tokenizer.save(str(path))
    return path
