"""Client-side token counts: the word rule the reference server uses, and a real tokenizer.json
read with the `tokenizers` library; a file that cannot be used is a one-line error naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.tokenizer_files import bpe_tokenizer, whitespace_pieces, word_level_tokenizer

from rtbench.errors import ConfigError
from rtbench.prompts.tokens import WordCounter, load_tokenizer
from rtbench.protocols.context import count_tokens

TEXT = "Shall I compare thee to a summer's day?\n\tThou art more lovely  and more temperate:"


def test_the_word_counter_is_the_reference_servers_rule() -> None:
    counter = WordCounter()
    assert counter.method == "estimate"
    assert counter.count(TEXT) == count_tokens(TEXT) == 15
    assert counter.head(TEXT, 3) == "Shall I compare" and counter.head(TEXT, 99) == " ".join(TEXT.split())


def test_a_tokenizer_counts_exactly_its_tokens(tmp_path: Path) -> None:
    counter = load_tokenizer(str(word_level_tokenizer(tmp_path)))
    assert counter.method == "tokenizer"
    assert counter.count(TEXT) == len(whitespace_pieces(TEXT)) == 19  # "summer", "'", "s", "?", ":"
    assert counter.count("zyzzyva qwerty") == 2  # unknown words are one [UNK] each
    assert counter.head(TEXT, 5) == "Shall I compare thee to"
    assert counter.head(TEXT, 19) == TEXT and counter.head(TEXT, 0) == ""


def test_a_cut_that_tokenizes_differently_is_moved_until_it_counts_exactly(tmp_path: Path) -> None:
    counter = load_tokenizer(str(bpe_tokenizer(tmp_path)))
    text = " ".join(["Unthrifty loveliness, why dost thou spend Upon thyself thy beauty's legacy?"] * 8)
    total = counter.count(text)
    assert total > len(text.split())  # words are split into several tokens
    for tokens in range(1, total + 1):
        assert counter.count(counter.head(text, tokens)) == tokens


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such tokenizer file"),
        ("", "not a tokenizer.json the tokenizers library can load"),
        ('{"model": {"type": "Nonsense"}}', "not a tokenizer.json the tokenizers library can load"),
    ],
)
def test_a_tokenizer_file_that_does_not_load_is_one_line_naming_it(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / f"bad-{len(content or '')}.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_tokenizer(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: {says}") and "\n" not in message


def test_without_the_tokenizers_library_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers -> ImportError
    path = str(word_level_tokenizer(tmp_path)) + ".copy"
    with pytest.raises(ConfigError, match=r"needs the tokenizers library: pip install 'rtbench\[tokenizer\]'"):
        load_tokenizer(path)
