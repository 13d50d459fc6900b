"""The Python runtime under the server: garbage-collector tuning and pause figures.

Why it matters: every call's next IVR step, every AMI event and every routing
decision runs on one event loop, and CPython's cyclic garbage collector stops
that loop while it scans. A full (generation 2) collection walks every tracked
object, so its pause grows with what the server holds: about 185 ms at 2,000
live calls on a 2-core machine with the default settings, every few seconds,
long enough to push one IVR step in a hundred past 5 ms. Two settings bound it:

* ``gc_freeze``: once the server has started (modules imported, flows, centre
  and router loaded), everything alive is moved into the collector's permanent
  generation with :func:`gc.freeze`, so no later collection walks it again.
  That halves a full collection at 2,000 calls (what is left is the calls
  themselves). :meth:`RuntimeTuning.restore` unfreezes on stop.
* ``gc_thresholds``: the collector's three thresholds. The defaults keep
  CPython's young generations (700, 10), whose collections stay around a
  millisecond, and raise the third from 10 to 1,000 so that full collections
  come every few minutes at peak instead of every few seconds. Cyclic garbage
  waits longer to be reclaimed; memory stays bounded because a full
  collection still runs, only less often.

:class:`GcMonitor` times every collection (per generation: count, total, the
longest, a histogram) and :class:`LoopLagMonitor` measures how late the event
loop wakes a sleeping task; both are exported on ``/metrics`` so an operator
sees a pause the moment it matters.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hotline.settings import RuntimeSettings

log = logging.getLogger("hotline.runtime")

# seconds; the last bucket is +Inf
PAUSE_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass
class PauseHistogram:
    """Durations in seconds: count, sum, max and cumulative-bucket counts (Prometheus style)."""

    bounds: tuple[float, ...] = PAUSE_BUCKETS
    count: int = 0
    total: float = 0.0
    max: float = 0.0
    counts: list[int] = field(default_factory=list)  # one per bound, plus +Inf; not cumulative

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        for i, b in enumerate(self.bounds):
            if seconds <= b:
                self.counts[i] += 1
                return
        self.counts[-1] += 1

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative ``(le, count)`` pairs ending with ``+Inf``."""
        out, acc = [], 0
        for b, n in zip(self.bounds, self.counts):
            acc += n
            out.append((repr(b), acc))
        out.append(("+Inf", acc + self.counts[-1]))
        return out

    def figures(self) -> dict[str, float | int]:
        return {"count": self.count, "total_ms": round(self.total * 1000, 3), "max_ms": round(self.max * 1000, 3)}


class GcMonitor:
    """Times every garbage collection through :data:`gc.callbacks`, per generation."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._started: float | None = None
        self.by_generation: dict[int, PauseHistogram] = {g: PauseHistogram() for g in range(3)}
        self.collected: dict[int, int] = {g: 0 for g in range(3)}
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._callback)
            self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            try:
                gc.callbacks.remove(self._callback)
            except ValueError:  # pragma: no cover - someone else removed it
                pass
            self.installed = False

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap (the collector holds the GIL), so one start mark suffices.
        if phase == "start":
            self._started = self._clock()
            return
        if self._started is None:  # installed between a start and its stop
            return
        gen = int(info.get("generation", 2))
        self.by_generation[gen].observe(self._clock() - self._started)
        self.collected[gen] += int(info.get("collected", 0))
        self._started = None

    def figures(self) -> dict[str, Any]:
        return {f"gen{g}": {**h.figures(), "collected": self.collected[g]} for g, h in self.by_generation.items()}


class LoopLagMonitor:
    """How late the event loop wakes a task that sleeps ``interval`` s: the wait any ready work sees."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lag = PauseHistogram()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lag.observe(max(0.0, loop.time() - due))


class RuntimeTuning:
    """Applies :class:`RuntimeSettings` to the process once the server has started; undoes it on stop."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.gc = GcMonitor()
        self.loop_lag = LoopLagMonitor(settings.loop_lag_interval)
        self._previous: tuple[int, int, int] | None = None
        self._froze = False

    def apply(self) -> None:
        """Call when start-up is complete: what is alive then is what the server keeps for its lifetime."""
        if self._previous is None:
            t0, t1, t2 = gc.get_threshold()
            self._previous = (t0, t1, t2)
            gc.set_threshold(*self.settings.gc_thresholds)
        self.gc.install()
        if self.settings.gc_freeze and not self._froze:
            started = time.perf_counter()
            gc.collect()
            gc.freeze()
            self._froze = True
            log.info("gc: %d start-up objects frozen in %.0f ms; thresholds %s", gc.get_freeze_count(),
                     (time.perf_counter() - started) * 1000, self.settings.gc_thresholds)
        self.loop_lag.start()

    async def restore(self) -> None:
        await self.loop_lag.stop()
        self.gc.uninstall()
        if self._froze:
            gc.unfreeze()
            self._froze = False
        if self._previous is not None:
            # Only if they are still ours: with two servers in one process (a test, a restart), the one
            # stopped last must not put back the thresholds the first one set.
            if gc.get_threshold() == tuple(self.settings.gc_thresholds):
                gc.set_threshold(*self._previous)
            self._previous = None
