#!/usr/bin/env python3
"""Apply the RunConfig field renames of RENAMES.md to a source tree: `python apply_renames.py TREE`.

Rewrites attribute reads on a run config (`config.users` -> `config.load.users`), where the
receiver is any dotted name ending in `config` or `_config` (`config`, `self._config`,
`shared.config`, `self.state.config`, ...). Idempotent: a path already renamed is left alone.
Only `src/rtbench`, `tests/rtbench`, `tests/support` and `benchmarks` are touched (never
`reference_server`, whose own `config.faults` etc. are another class). Prints the files changed.

Not done here (see RENAMES.md): `RunConfig(flat=...)` constructor calls (use
`RunConfig.from_dict({...})` with the flat keys), and `config.replace(flat=...)` calls.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

#: old attribute of RunConfig -> its new path under RunConfig
RENAMES: dict[str, str] = {
    "target": "target.url",
    "protocol": "target.protocol",
    "adapter_options": "target.adapter_options",
    "connect_timeout": "target.connect_timeout",
    "turn_timeout": "target.turn_timeout",
    "first_token_timeout": "target.first_token_timeout",
    "idle_timeout": "target.idle_timeout",
    "headers": "target.headers",
    "secret_headers": "target.secret_headers",
    "ca_file": "target.ca_file",
    "insecure": "target.insecure",
    "target_pid": "target.pid",
    "target_metrics": "target.metrics_url",
    "users": "load.users",
    "spawn_rate": "load.spawn_rate",
    "duration": "load.duration",
    "think_time": "load.think_time",
    "arrival": "load.arrival",
    "rate": "load.rate",
    "max_in_flight": "load.max_in_flight",
    "workers": "load.workers",
    "expect_workers": "load.expect_workers",
    "master_bind": "load.master_bind",
    "worker_wait": "load.worker_wait",
    "source_addrs": "load.source_addrs",
    "stop_grace": "load.stop_grace",
    "include_ramp": "load.include_ramp",
    "recovery": "recovery.enabled",
    "recovery_backoff_initial": "recovery.backoff_initial",
    "recovery_backoff_max": "recovery.backoff_max",
    "recovery_backoff_multiplier": "recovery.backoff_multiplier",
    "recovery_jitter": "recovery.jitter",
    "recovery_max_retries": "recovery.max_retries",
    "prompts": "conversation.prompts",
    "max_tokens": "conversation.max_tokens",
    "personas": "conversation.personas",
    "persona_switch_probability": "conversation.switch_probability",
    "shape": "shape.table",
    "server": "server.options",
    "faults": "faults.table",
}

#: the fields of each sub-config whose name was a RunConfig field before (so `config.target.url`
#: or `config.recovery.enabled` is not renamed twice)
SUB_FIELDS: dict[str, list[str]] = {
    "target": (
        "url protocol adapter_options connect_timeout turn_timeout first_token_timeout idle_timeout headers"
        " secret_headers ca_file insecure pid metrics_url replace"
    ).split(),
    "recovery": "enabled backoff_initial backoff_max backoff_multiplier jitter max_retries replace".split(),
    "shape": ["table", "spec", "replace"],
    "server": ["options", "flags", "replace"],
    "faults": ["table", "plan", "replace"],
}
ROOTS = ("src/rtbench", "tests/rtbench", "tests/support", "benchmarks")
RECEIVER = r"(?<![\w.])((?:[A-Za-z_]\w*\.)*_?config)"


ATTRIBUTE = re.compile(RECEIVER + r"\.([A-Za-z_]\w*)\b")
ASSIGNMENT = re.compile(r"\s*=[^=]")
SUB_FIELD = re.compile(r"\.([A-Za-z_]\w*)\b")


def _plain_strings(text: str) -> list[tuple[int, int]]:
    """Offsets of string literals other than f-strings (their text is never code)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING and "f" not in token.string.split("'")[0].split('"')[0].lower():
            (row, col), (end_row, end_col) = token.start, token.end
            spans.append((starts[row - 1] + col, starts[end_row - 1] + end_col))
    return spans


def rename(text: str) -> str:
    """`text` with every RunConfig attribute read renamed (not inside plain string literals)."""
    if "config" not in text:
        return text
    spans = _plain_strings(text)

    def replace(match: re.Match[str]) -> str:
        receiver, attribute = match.group(1), match.group(2)
        after = text[match.end() :]
        sub = SUB_FIELD.match(after)
        if (
            attribute not in RENAMES
            or (sub is not None and sub.group(1) in SUB_FIELDS.get(attribute, ()))
            or ASSIGNMENT.match(after)
            or any(start <= match.start() < end for start, end in spans)
        ):
            return match.group(0)
        return f"{receiver}.{RENAMES[attribute]}"

    return ATTRIBUTE.sub(replace, text)


def main(tree: str) -> int:
    root = Path(tree)
    for base in ROOTS:
        for path in sorted((root / base).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            new = rename(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(path.relative_to(root))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: apply_renames.py TREE")
    sys.exit(main(sys.argv[1]))
