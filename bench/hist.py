"""A small HDR-style histogram: log buckets with linear sub-buckets.

Values are non-negative integers (the bench records microseconds).  Values below
``2**SUB_BITS`` are exact; above, each power-of-two range is split into ``2**(SUB_BITS-1)``
equal sub-buckets, so the relative error of any reported value is below
``2**-(SUB_BITS-1)`` (0.8 % with the default 8 bits).  Recording is O(1), histograms from
several processes merge by adding counts, and percentiles read the bucket's upper edge
(never optimistic).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SUB_BITS = 8


def _bucket(value: int) -> int:
    if value < (1 << SUB_BITS):
        return value
    shift = value.bit_length() - SUB_BITS
    # top has SUB_BITS bits with the highest set: index = shift * HALF + top is monotonic
    return (shift << (SUB_BITS - 1)) + (value >> shift)


def _upper(bucket: int) -> int:
    """The largest value that falls in ``bucket``."""
    if bucket < (1 << SUB_BITS):
        return bucket
    shift = (bucket >> (SUB_BITS - 1)) - 1
    top = bucket - (shift << (SUB_BITS - 1))
    return ((top + 1) << shift) - 1


class Histogram:
    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value: int) -> None:
        if value < 0:
            value = 0
        b = _bucket(value)
        self.counts[b] = self.counts.get(b, 0) + 1
        if self.count == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value

    def record_many(self, values: Iterable[int]) -> None:
        for v in values:
            self.record(v)

    def merge(self, other: Histogram) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n
        if other.count:
            self.min = other.min if self.count == 0 else min(self.min, other.min)
            self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    def percentile(self, p: float) -> int:
        """The smallest recorded bucket's upper edge covering ``p`` percent of values."""
        if not self.count:
            return 0
        if p >= 100:
            return self.max
        want = max(1, int(self.count * p / 100.0 + 0.999999))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= want:
                return min(_upper(b), self.max)
        return self.max

    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary(self, scale: float = 1000.0) -> dict[str, float]:
        """count, mean and percentiles divided by ``scale`` (microseconds -> ms)."""
        out: dict[str, float] = {"count": self.count}
        if not self.count:
            return out
        out["mean"] = round(self.mean() / scale, 3)
        for name, p in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9)):
            out[name] = round(self.percentile(p) / scale, 3)
        out["min"] = round(self.min / scale, 3)
        out["max"] = round(self.max / scale, 3)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"counts": {str(k): v for k, v in self.counts.items()}, "count": self.count,
                "total": self.total, "min": self.min, "max": self.max}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        h = cls()
        h.counts = {int(k): int(v) for k, v in data["counts"].items()}
        h.count = int(data["count"])
        h.total = int(data["total"])
        h.min = int(data["min"])
        h.max = int(data["max"])
        return h
