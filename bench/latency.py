"""Shared by the IVR benchmarks: latency figures from nanosecond samples, and an IVR clock in open hours."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any
from zoneinfo import ZoneInfo

OPEN_AT = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a working Tuesday morning


class OpenHoursClock:
    """The IVR's clock: wall time pinned inside the staffed hours (calls reach the menu), real monotonic time."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> dt.datetime:
        return OPEN_AT + dt.timedelta(seconds=time.monotonic() - self._t0)

    def monotonic(self) -> float:
        return time.monotonic()


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile of ``xs`` (not empty)."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summarise(samples_ns: list[int]) -> dict[str, Any] | None:
    """Count, p50/p90/p99, max and mean in milliseconds; None without samples."""
    if not samples_ns:
        return None
    ms = [x / 1e6 for x in samples_ns]
    return {
        "steps": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p90_ms": round(percentile(ms, 90), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 4),
    }
