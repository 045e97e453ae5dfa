"""Latency histograms (HdrHistogram) that merge across processes.

Values are recorded in microseconds with three significant digits, so a
percentile is within 0.1% of the exact one. Histograms travel as HdrHistogram's
compressed base64 encoding; merging adds counts, so percentiles of a merged
histogram are exact percentiles of all samples, never averages of percentiles.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["LatencyHistogram", "HistogramSet", "read_histograms", "write_histograms"]

_LOWEST_US = 1
_HIGHEST_US = 3600 * 1_000_000  # one hour: anything slower is clamped
_DIGITS = 3


class LatencyHistogram:
    """A latency histogram with a millisecond interface."""

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self._histogram = histogram or HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)

    def record_ms(self, latency_ms: float) -> None:
        """Record one value as HdrHistogram's ``record_value`` does, its index arithmetic
        inline (``int.bit_length`` for its ``len(bin())``): every delivery a member receives
        is recorded, and the library's five calls per value were half the recording's cost."""
        value = min(max(int(round(latency_ms * 1000)), _LOWEST_US), _HIGHEST_US)
        histogram = self._histogram
        bucket = ((value | histogram.sub_bucket_mask).bit_length() - histogram.unit_magnitude
                  - histogram.sub_bucket_half_count_magnitude - 1)
        index = (((bucket + 1) << histogram.sub_bucket_half_count_magnitude)
                 + (value >> (bucket + histogram.unit_magnitude))
                 - histogram.sub_bucket_half_count)
        histogram.counts[index] += 1
        histogram.total_count += 1
        if value < histogram.min_value:
            histogram.min_value = value
        if value > histogram.max_value:
            histogram.max_value = value

    def record_corrected_ms(self, latency_ms: float, interval_ms: float) -> None:
        """Record ``latency_ms`` and, for a value longer than ``interval_ms``, the values a
        sampler ticking every ``interval_ms`` would have seen meanwhile (value - interval,
        value - 2 * interval, ...): HdrHistogram's correction for coordinated omission."""
        value_us = min(max(int(round(latency_ms * 1000)), _LOWEST_US), _HIGHEST_US)
        self._histogram.record_corrected_value(value_us, max(1, int(round(interval_ms * 1000))))

    @property
    def count(self) -> int:
        return int(self._histogram.get_total_count())

    def percentile_ms(self, percentile: float) -> float:
        """Nearest-rank percentile (as for raw samples): the value at rank ceil(p/100 * n)."""
        count = self.count
        if count == 0:
            return 0.0
        rank = max(1, math.ceil(percentile / 100 * count))
        # HdrHistogram picks rank int(p/100 * n + 0.5); ask for the percentile of our rank.
        exact = min(100.0, 100.0 * rank / count)
        return float(self._histogram.get_value_at_percentile(exact)) / 1000

    def mean_ms(self) -> float:
        return float(self._histogram.get_mean_value()) / 1000

    def max_ms(self) -> float:
        return float(self._histogram.get_max_value()) / 1000

    def merge(self, other: LatencyHistogram) -> None:
        self._histogram.add(other._histogram)

    def encode(self) -> str:
        return bytes(self._histogram.encode()).decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> LatencyHistogram:
        """Raises ValueError on anything that is not an encoded histogram."""
        try:
            return cls(HdrHistogram.decode(encoded.encode("ascii")))
        except Exception as exc:  # the decoder raises assorted types on garbage
            raise ValueError(f"not an encoded HdrHistogram: {exc}") from None

    def summary(self, percentiles: tuple[float, ...] = (50, 90, 99)) -> dict[str, Any]:
        """Counts and statistics in the shape of ``result.json``'s ``latency_ms`` entries."""
        summary: dict[str, Any] = {"samples": self.count, "failed": 0}
        for percentile in percentiles:
            summary[f"p{percentile:g}_ms"] = self.percentile_ms(percentile) if self.count else None
        summary["max_ms"] = self.max_ms() if self.count else None
        summary["mean_ms"] = self.mean_ms() if self.count else None
        return summary


class HistogramSet:
    """Histograms keyed by ``"op/member_kind/kind"``, e.g. ``"join/fast/corrected"``."""

    def __init__(self) -> None:
        self.histograms: dict[str, LatencyHistogram] = {}

    @staticmethod
    def key(op: str, member_kind: str, kind: str) -> str:
        return f"{op}/{member_kind}/{kind}"

    def record(self, op: str, member_kind: str, kind: str, latency_ms: float) -> None:
        key = self.key(op, member_kind, kind)
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = LatencyHistogram()
        histogram.record_ms(latency_ms)

    def get(self, op: str, member_kind: str, kind: str) -> LatencyHistogram | None:
        return self.histograms.get(self.key(op, member_kind, kind))

    def merge_encoded(self, encoded: Mapping[str, str]) -> None:
        for key, text in encoded.items():
            incoming = LatencyHistogram.decode(text)
            if key in self.histograms:
                self.histograms[key].merge(incoming)
            else:
                self.histograms[key] = incoming

    def encode(self) -> dict[str, str]:
        return {key: histogram.encode() for key, histogram in sorted(self.histograms.items())}

    def combined(
        self, op: str, member_kinds: tuple[str, ...], kind: str
    ) -> LatencyHistogram | None:
        """One histogram over several member kinds, or None if none has data."""
        parts = [h for k in member_kinds if (h := self.get(op, k, kind)) is not None]
        if not parts:
            return None
        merged = LatencyHistogram()
        for part in parts:
            merged.merge(part)
        return merged

    def __bool__(self) -> bool:
        return bool(self.histograms)


def write_histograms(path: Path, histograms: HistogramSet) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(histograms.encode()) + "\n")
    tmp.replace(path)


def read_histograms(path: Path) -> HistogramSet:
    """Read a histograms file; a missing file gives an empty set.

    Raises:
        ValueError: the file is not a JSON object of encoded histograms.
    """
    histograms = HistogramSet()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return histograms
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON object of encoded histograms")
    histograms.merge_encoded(data)
    return histograms
