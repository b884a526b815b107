"""Latency histograms: HdrHistogram over 1 us .. 1 h at 3 significant figures, values in us.

`hdrh` drops values outside the trackable range silently (`record_value` returns False); this
wrapper clamps them into the range and counts them in `clamped` instead. The clamped count is not
part of the HdrHistogram encoding, so whatever ships an encoded histogram ships the count beside it.

`record` runs for every token (ITL), so it does `hdrh.record_value`'s work itself for our one
layout: the same counts index, total, min and max, in 0.3 µs instead of 1.1 (hdrh finds the bucket
through `bin()` and five method calls). tests/rtbench/metrics/test_histogram.py checks it against
`record_value` at every bucket edge of the range; hdrhistogram is pinned to 0.10.8.
"""

from __future__ import annotations

import math
import weakref
import zlib
from collections.abc import Sequence

from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException
from hdrh.histogram import HdrHistogram

__all__ = [
    "LOWEST_US",
    "HIGHEST_US",
    "SIGNIFICANT_FIGURES",
    "SUMMARY_PERCENTILES",
    "SUMMARY_KEYS",
    "HistogramConfigMismatch",
    "DECODE_ERRORS",
    "LatencyHistogram",
    "summarize_ms",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_FIGURES = 3
# hdrh's layout for the three above: a unit of 1 (magnitude 0) and 2,048 sub-buckets per bucket.
_HALF_MAGNITUDE = 10
_SUB_BUCKET_MASK = (1 << (_HALF_MAGNITUDE + 1)) - 1
_HALF_COUNT = 1 << _HALF_MAGNITUDE

#: The percentiles of a summary, keyed by their name in summary.json (99.9 -> "p99_9").
SUMMARY_PERCENTILES: dict[str, float] = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "p99_9": 99.9,
}

#: The keys of `summarize_ms`, in order.
SUMMARY_KEYS: tuple[str, ...] = ("count", "min", "mean", *SUMMARY_PERCENTILES, "max")


class HistogramConfigMismatch(ValueError):
    """An encoded histogram was made with another range or precision than ours."""


#: What decoding a corrupt or foreign encoded histogram can raise.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # includes binascii.Error and HistogramConfigMismatch
    TypeError,
    zlib.error,
    HdrCookieException,
    HdrLengthException,
    HdrHistogramSettingsException,
)


def _new_hdr() -> HdrHistogram:
    return _acyclic(HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES))


def _decode_checked(data: bytes | str) -> HdrHistogram:
    return _checked(HdrHistogram.decode(data))


def _acyclic(hdr: HdrHistogram) -> HdrHistogram:
    """Break hdrh's histogram <-> encoder reference cycle, so a dropped histogram (~94 KB of
    counts) is freed at once by reference counting. With the cycle, each one waited for a full
    GC, which the many-session GC tuning makes rare: a run's memory grew by every interval."""
    encoder = hdr.encoder
    if type(encoder.histogram) is not weakref.ProxyType:
        encoder.histogram = weakref.proxy(hdr)
    return hdr


def _checked(hdr: HdrHistogram) -> HdrHistogram:
    _acyclic(hdr)
    config = (hdr.lowest_trackable_value, hdr.highest_trackable_value, hdr.significant_figures)
    if config != (LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES):
        raise HistogramConfigMismatch(
            f"histogram range/precision {config} differs from {(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)}"
        )
    return hdr


class LatencyHistogram:
    """One metric's latency distribution in microseconds, with a count of clamped values."""

    __slots__ = ("hdr", "clamped", "_counts")

    def __init__(self, hdr: HdrHistogram | None = None, clamped: int = 0) -> None:
        """`hdr` must have our range and precision (else `HistogramConfigMismatch`)."""
        self.hdr: HdrHistogram = _new_hdr() if hdr is None else _checked(hdr)
        self.clamped = clamped
        self._counts = self.hdr.counts

    # -- recording (hot path) -----------------------------------------------------------------

    def record(self, value_us: float, count: int = 1) -> None:
        """Record `value_us` (rounded to an int) `count` times. Values below 1 us are recorded as
        they round (0 is a real gap: two frames that arrived in one read); negative values and
        values above 1 h are clamped into range and counted."""
        if 0.0 <= value_us <= HIGHEST_US:
            value = round(value_us)
        else:
            value = self._clamp(value_us, count)
        bucket = (value | _SUB_BUCKET_MASK).bit_length() - _HALF_MAGNITUDE - 1
        self._counts[((bucket + 1) << _HALF_MAGNITUDE) + (value >> bucket) - _HALF_COUNT] += count
        hdr = self.hdr
        hdr.total_count += count
        if value < hdr.min_value:
            hdr.min_value = value
        if value > hdr.max_value:
            hdr.max_value = value

    def _clamp(self, value_us: float, count: int) -> int:
        if math.isnan(value_us):
            raise ValueError("cannot record a NaN latency")
        self.clamped += count
        return 0 if value_us < 0 else HIGHEST_US

    # -- merging ------------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The standard compressed, base64-wrapped HdrHistogram encoding (no clamped count)."""
        encoded: bytes = self.hdr.encode()
        return encoded

    @classmethod
    def decode(cls, data: bytes | str, clamped: int = 0) -> LatencyHistogram:
        """A histogram from `encode()` output; raises HistogramConfigMismatch for another config."""
        return cls(HdrHistogram.decode(data), clamped)

    @classmethod
    def from_hdr(cls, hdr: HdrHistogram, clamped: int = 0) -> LatencyHistogram:
        """Wrap an HdrHistogram made elsewhere (e.g. by a log reader), checking its config."""
        return cls(hdr, clamped)

    def add(self, other: LatencyHistogram) -> None:
        """Add `other`'s counts exactly (and its clamped count and time span)."""
        self._add_hdr(other.hdr)
        self.clamped += other.clamped

    def add_encoded(self, data: bytes | str, clamped: int = 0) -> None:
        """Add an encoded histogram (config checked) and the clamped count that came with it."""
        self._add_hdr(_decode_checked(data))
        self.clamped += clamped

    def _add_hdr(self, other: HdrHistogram) -> None:
        # hdrh's add() sets min to 0 when the other histogram is empty, and keeps a start time of
        # 0 when this one is fresh: skip empty ones and treat a 0 time stamp as unset.
        start, end = self.hdr.start_time_stamp_msec, self.hdr.end_time_stamp_msec
        if other.get_total_count():
            self.hdr.add(other)
        starts = [t for t in (start, other.start_time_stamp_msec) if t]
        self.hdr.set_start_time_stamp(min(starts) if starts else 0)
        self.hdr.set_end_time_stamp(max(end, other.end_time_stamp_msec))

    # -- reading ------------------------------------------------------------------------------

    @property
    def total_count(self) -> int:
        return int(self.hdr.get_total_count())

    @property
    def min_us(self) -> int | None:
        return int(self.hdr.get_min_value()) if self.total_count else None

    @property
    def max_us(self) -> int | None:
        return int(self.hdr.get_max_value()) if self.total_count else None

    @property
    def mean_us(self) -> float | None:
        return float(self.hdr.get_mean_value()) if self.total_count else None

    def percentiles(self, ps: Sequence[float]) -> dict[float, int]:
        """Value at each percentile in `ps` (0..100), in one pass over the counts."""
        if not self.total_count:
            return {}
        return {p: int(v) for p, v in self.hdr.get_percentile_to_value_dict(list(ps)).items()}

    @property
    def start_ms(self) -> float:
        """Start time stamp in ms since the epoch (0 when unset)."""
        return float(self.hdr.get_start_time_stamp())

    @start_ms.setter
    def start_ms(self, value: float) -> None:
        self.hdr.set_start_time_stamp(value)

    @property
    def end_ms(self) -> float:
        """End time stamp in ms since the epoch (0 when unset)."""
        return float(self.hdr.get_end_time_stamp())

    @end_ms.setter
    def end_ms(self, value: float) -> None:
        self.hdr.set_end_time_stamp(value)

    def __repr__(self) -> str:
        return (
            f"LatencyHistogram(count={self.total_count}, min_us={self.min_us}, "
            f"max_us={self.max_us}, clamped={self.clamped})"
        )


def _ms(value_us: float) -> float:
    return round(value_us / 1000.0, 3)


def summarize_ms(h: LatencyHistogram) -> dict[str, float | int | None]:
    """count, min, mean, p50, p90, p95, p99, p99_9 and max, in ms (3 decimals); None when empty."""
    count = h.total_count
    if not count:
        empty: dict[str, float | int | None] = dict.fromkeys(SUMMARY_KEYS)
        empty["count"] = 0
        return empty
    values = h.percentiles(list(SUMMARY_PERCENTILES.values()))
    summary: dict[str, float | int | None] = {
        "count": count,
        "min": _ms(h.hdr.get_min_value()),
        "mean": _ms(h.hdr.get_mean_value()),
    }
    for name, p in SUMMARY_PERCENTILES.items():
        summary[name] = _ms(values[p])
    summary["max"] = _ms(h.hdr.get_max_value())
    return summary
