"""`PromptSource`: what a load process's users say, built once per process from `PromptsConfig`.

`next_script` hands out the next item: a dataset's items in the file's order (wrapping at its
end, shared by the process's users; with several load processes, process k of P takes the items
k, k + P, k + 2P, ..., so that together they replay the file once before any item repeats), or
one prompt: synthetic text of `input_tokens` drawn, or one of `texts` at random. `max_tokens`
draws a turn's output cap; `counter` counts tokens client-side; `prefix` is the system prefix
every user shares (`prefix_tokens`).
"""

from __future__ import annotations

import random

from rtbench.prompts.config import PromptsConfig
from rtbench.prompts.dataset import Dataset, Script, load_dataset
from rtbench.prompts.distributions import Distribution, parse_distribution
from rtbench.prompts.synthetic import SyntheticText
from rtbench.prompts.tokens import TokenCounter, WordCounter, load_tokenizer

__all__ = ["PromptSource", "PREFIX_SEPARATOR"]

#: Between the shared prefix and a prompt's text, where the prefix cannot be a system message.
PREFIX_SEPARATOR = "\n\n"


class PromptSource:
    """The prompts of one load process (a dataset is read once, here)."""

    __slots__ = ("counter", "prefix", "_rng", "_texts", "_dataset", "_own", "_next", "_input", "_max", "_synthetic")

    def __init__(
        self, config: PromptsConfig, rng: random.Random, seed: int | None = None, share: tuple[int, int] = (0, 1)
    ) -> None:
        """`rng` draws lengths and picks texts (the process's); `seed` (the run's) fixes `prefix`;
        `share` is (this process's index, the number of load processes), for a dataset's items."""
        self._rng = rng
        #: Counts tokens client-side: the tokenizer's, or one a word (an estimate).
        self.counter: TokenCounter = load_tokenizer(config.tokenizer) if config.tokenizer else WordCounter()
        self._texts = config.texts
        self._dataset: Dataset | None = load_dataset(config.file) if config.file else None
        self._own = _own_items(len(self._dataset.scripts), *share) if self._dataset is not None else ()
        self._next = 0
        self._input = _distribution(config.input_tokens)
        self._max = _distribution(config.max_tokens)
        self._synthetic = SyntheticText(counter=self.counter) if self._input or config.prefix_tokens else None
        #: The system prefix all users share ("" without `prefix_tokens`).
        self.prefix = self._synthetic.prefix(config.prefix_tokens, seed) if self._synthetic else ""

    @property
    def converses(self) -> bool:
        """Some script needs a conversation (a dataset item with several turns or a system prompt)."""
        return self._dataset is not None and self._dataset.converses

    @property
    def from_dataset(self) -> bool:
        """Scripts come from a dataset: each one is replayed whole, as a conversation of its own."""
        return self._dataset is not None

    def next_script(self) -> Script:
        """The next item to send."""
        dataset = self._dataset
        if dataset is not None:
            script = dataset.scripts[self._own[self._next]]
            self._next = (self._next + 1) % len(self._own)
            return script
        if self._input is not None and self._synthetic is not None:
            return Script(None, (self._synthetic.text(self._input.sample(self._rng), self._rng),))
        return Script(None, (self._texts[self._rng.randrange(len(self._texts))],))

    def max_tokens(self, rng: random.Random) -> int | None:
        """A turn's output cap, drawn; None when the scenario sets none."""
        return self._max.sample(rng) if self._max is not None else None

    def with_prefix(self, text: str) -> str:
        """`text` after the shared prefix, for a protocol that sends no system message."""
        return f"{self.prefix}{PREFIX_SEPARATOR}{text}" if self.prefix else text


def _distribution(value: int | str | None) -> Distribution | None:
    return parse_distribution(value) if value is not None else None


def _own_items(items: int, index: int, processes: int) -> tuple[int, ...]:
    """The dataset items process `index` of `processes` replays: every `processes`-th from
    `index` (one item, by the index modulo their number, when there are fewer items than processes)."""
    own = tuple(range(index, items, max(1, processes)))
    return own or (index % items,)
