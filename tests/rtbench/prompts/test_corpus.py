"""The corpus ships with the package: Shakespeare's Sonnets, its note line left out."""

from __future__ import annotations

from importlib.resources import files

from rtbench.prompts.corpus import CORPUS_FILE, corpus_words


def test_the_corpus_is_the_sonnets_without_its_note() -> None:
    words = corpus_words()
    assert words[:4] == ("FROM", "fairest", "creatures", "we")
    assert words[-3:] == ("times", "happy", "me!") and len(words) == 4174
    first_line = files("rtbench.prompts").joinpath(CORPUS_FILE).read_text(encoding="utf-8").splitlines()[0]
    assert "Shakespeare's Sonnets (1609), public domain" in first_line
    assert corpus_words() is words  # read once
