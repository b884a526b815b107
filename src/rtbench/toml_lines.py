"""Line numbers for error messages: where a key of a table is written in a TOML text.

`tomllib` keeps no positions, so this scans the text: table headers (`[slo]`, `[slo.per_turn]`,
`[ "slo" . ttft ]`) and the `key =` lines under them. It is a best effort for messages only.
"""

from __future__ import annotations

import re

__all__ = ["key_line"]

_HEADER = re.compile(r"^\s*\[(?!\[)\s*(?P<name>[^\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_.\-]+?)\s*=""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in dotted.split("."))


def key_line(text: str, table: tuple[str, ...], key: str) -> int | None:
    """The 1-based line where `key` of `table` is written, or None when it cannot be found.

    The first of: a `key = ...` line under the `[table]` header (or a dotted `key.x = ...`), a
    `[table.key]` sub-table header; else the `[table]` header itself.
    """
    current: tuple[str, ...] = ()
    header_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = _parts(header.group("name"))
            if current == table and header_line is None:
                header_line = number
            if current == (*table, key):
                return number
            continue
        match = _KEY.match(line)
        if match is None:
            continue
        written = _parts(match.group("key"))
        full = current + written
        if full[: len(table) + 1] == (*table, key):
            return number
    return header_line
