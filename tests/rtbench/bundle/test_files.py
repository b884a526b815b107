from __future__ import annotations

from pathlib import Path

from rtbench.bundle.files import AppendFile, Closing


class _Counting(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_closing_closes_on_exit_even_after_an_error() -> None:
    thing = _Counting()
    try:
        with thing as entered:
            assert entered is thing
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert thing.closed == 1


def test_append_file_truncates_and_closes_once(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old content")
    with AppendFile(path) as f:
        assert path.read_text() == ""
    f.close()  # a second close is harmless
    assert f._file.closed  # noqa: SLF001
