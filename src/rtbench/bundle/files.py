"""Context-manager plumbing shared by the bundle's writers."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self, TextIO

__all__ = ["Closing", "AppendFile"]


class Closing:
    """`with` support for anything with a `close()`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AppendFile(Closing):
    """A text file created (truncated) at `path`, written to in order, closed once."""

    def __init__(self, path: str | Path, newline: str | None = None) -> None:
        self.path = Path(path)
        self._file: TextIO = open(self.path, "w", encoding="utf-8", newline=newline)  # noqa: SIM115

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
