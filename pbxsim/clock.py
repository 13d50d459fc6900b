"""Simulated time: every prompt, ring and talk duration goes through one speed factor."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class SimClock:
    """``speed`` 1.0 = real time; 10.0 = durations run ten times faster.

    ``now()`` is simulated seconds since the clock started; ``wall()`` is the
    Unix time used in Uniqueids and timestamps (real time, like Asterisk).
    """

    speed: float = 1.0
    _t0: float = field(default_factory=time.monotonic)

    def real(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds) / self.speed

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    @staticmethod
    def wall() -> float:
        return time.time()

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))

    def call_later(self, sim_seconds: float, callback, *args) -> asyncio.TimerHandle:  # type: ignore[no-untyped-def]
        return asyncio.get_running_loop().call_later(self.real(sim_seconds), callback, *args)
