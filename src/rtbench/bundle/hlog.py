"""HdrHistogram interval logs (`<metric>.hlog`): one line per closed wall-clock second.

The files follow the standard histogram log format 1.2, so any HdrHistogram log reader
(hdrh's HistogramLogReader, Java's HistogramLogProcessor) reads them. Interval time stamps are
absolute epoch seconds (`#[BaseTime: 0.000 ...]`); `#[StartTime: ...]` is the start of the run's
first whole second, so no interval starts before it. Values are in us; the max column is in ms.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from hdrh.log import HistogramLogReader, HistogramLogWriter

from rtbench.bundle.files import AppendFile
from rtbench.errors import BundleError
from rtbench.metrics.histogram import DECODE_ERRORS, LatencyHistogram

__all__ = ["IntervalLogWriter", "read_hlog", "MAX_VALUE_UNIT_RATIO"]

_READ_ERRORS: tuple[type[Exception], ...] = (*DECODE_ERRORS, OSError)

#: Values are recorded in us and the log's max column reports ms.
MAX_VALUE_UNIT_RATIO = 1000.0


class IntervalLogWriter(AppendFile):
    """Appends one interval line per second to a histogram log, flushed line by line."""

    def __init__(self, path: str | Path, start_time: float) -> None:
        super().__init__(path)
        self._writer = HistogramLogWriter(self._file)
        start = math.floor(start_time)
        when = datetime.fromtimestamp(start, UTC).isoformat()
        self._writer.output_log_format_version()
        # hdrh 0.10.8's output_start_time() calls a datetime method that does not exist.
        self._writer.output_comment(f"[StartTime: {start:.3f} (seconds since epoch), {when}]")
        self._writer.output_base_time(0)
        self._writer.output_legend()
        self._file.flush()

    def write(self, second: int, h: LatencyHistogram) -> None:
        """Log `h` as the interval [second, second + 1) (second: epoch seconds, > 0)."""
        if second <= 0:
            raise ValueError(f"interval second must be epoch seconds > 0, not {second}")
        self._writer.output_interval_histogram(
            h.hdr,
            start_time_stamp_sec=float(second),
            end_time_stamp_sec=float(second + 1),
            max_value_unit_ratio=MAX_VALUE_UNIT_RATIO,
        )
        self._file.flush()


def _ends_cut(path: str | Path) -> bool:
    """True when the file's last line has no newline: a writer killed in the middle of it."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return False
        f.seek(size - 1)
        return f.read(1) != b"\n"


def read_hlog(path: str | Path) -> list[tuple[float, LatencyHistogram]]:
    """Every interval of a histogram log as (start, epoch seconds; histogram), in file order.

    A last line cut short (a run killed while writing it) is dropped. Raises BundleError when
    the file is missing or holds a malformed or foreign histogram elsewhere.
    """
    try:
        reader = HistogramLogReader(str(path), LatencyHistogram().hdr)
        cut = _ends_cut(path)
    except OSError as exc:
        raise BundleError(f"cannot read histogram log {path}: {exc.strerror or exc}") from exc
    intervals: list[tuple[float, LatencyHistogram]] = []
    try:
        while (hdr := reader.get_next_interval_histogram(absolute=True)) is not None:
            intervals.append((hdr.get_start_time_stamp() / 1000.0, LatencyHistogram.from_hdr(hdr)))
    except _READ_ERRORS as exc:
        # the failing line was the cut last one when nothing follows it
        if not (cut and reader.input_file.read() == ""):
            raise BundleError(f"malformed histogram log {path}: {exc}") from exc
    finally:
        reader.close()
    return intervals
