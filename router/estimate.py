"""Estimated wait time (EWT) from recent handle times and the agents staffed.

A caller at position ``p`` (1 = next) waits for ``p`` agents to become free.
With ``n`` staffed agents each finishing a call every ``AHT`` seconds on
average, one frees up every ``AHT / n`` seconds, so

    EWT(p) = max(0, p - idle) * AHT / n

where ``idle`` agents are free right now. ``AHT`` (talk + wrap-up) is the mean
over a sliding window of recent calls of the queue, falling back to a
configured default until enough calls have ended. Agents serving several
queues count for each in proportion (1/k for k queues), so a shared agent is
not counted k times.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    position: int  # 1 = next to be answered
    seconds: float  # math.inf when nobody is staffed
    aht: float
    staffed: float


class HandleTimes:
    """Sliding window of recent handle times (talk + wrap-up) for one queue."""

    __slots__ = ("_samples", "_window", "_default", "_min_samples", "_sum")

    def __init__(self, default_aht: float = 240.0, window: float = 1800.0, max_samples: int = 200, min_samples: int = 5):
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self._window = window
        self._default = default_aht
        self._min_samples = min_samples
        self._sum = 0.0

    def add(self, at: float, seconds: float) -> None:
        if len(self._samples) == self._samples.maxlen:
            self._sum -= self._samples[0][1]
        self._samples.append((at, seconds))
        self._sum += seconds

    def _expire(self, now: float) -> None:
        s = self._samples
        while s and s[0][0] < now - self._window:
            self._sum -= s.popleft()[1]

    def aht(self, now: float) -> float:
        self._expire(now)
        n = len(self._samples)
        if n < self._min_samples:
            # blend the default in until the window has enough calls
            return (self._sum + (self._min_samples - n) * self._default) / self._min_samples
        return self._sum / n


def ewt(position: int, aht: float, staffed: float, idle: int = 0) -> float:
    """Expected wait of the caller at ``position`` (1-based)."""
    ahead = position - idle
    if ahead <= 0:
        return 0.0
    if staffed <= 1e-9:
        return math.inf
    return ahead * aht / staffed
