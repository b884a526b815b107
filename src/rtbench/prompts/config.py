"""`PromptsConfig`: the `[prompts]` table of a scenario, as `RunConfig.prompts`.

    [prompts]
    texts = ["...", "..."]               # prompts picked at random (the default source), or
    file = "prompts.jsonl"               # a dataset replayed in order (.txt, .jsonl, ShareGPT .json), or
    input_tokens = "lognormal:200:800"   # synthetic prompts of that many tokens
    prefix_tokens = 500                  # the same system prefix for every user
    max_tokens = "uniform:50:200"        # output cap, drawn per turn (or an int)
    tokenizer = "tokenizer.json"         # count tokens exactly with it (else one a word)

Distributions keep the text they were written in (an int stays an int); `rtbench.prompts.source`
parses them once per process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_TEXTS", "PromptsConfig"]

DEFAULT_TEXTS = ("Tell me about realtime systems.",)


@dataclass(frozen=True)
class PromptsConfig:
    """Where prompts come from (`texts`, `file` or `input_tokens`: one of them), and their sizes."""

    texts: tuple[str, ...] = DEFAULT_TEXTS
    #: A dataset file (absolute once resolved): every item in order, wrapping.
    file: str | None = None
    #: Synthetic prompts: a distribution of their tokens, as written.
    input_tokens: int | str | None = None
    #: Tokens of a system prefix every user shares (0: none).
    prefix_tokens: int = 0
    #: The output cap per turn: an int or a distribution, as written (None: the target's default).
    max_tokens: int | str | None = None
    #: A tokenizer.json to count tokens with (absolute once resolved); None: one token a word.
    tokenizer: str | None = None

    def replace(self, **changes: Any) -> PromptsConfig:
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)
