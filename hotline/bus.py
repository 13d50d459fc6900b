"""The internal event bus: typed domain events from producers to subscribers.

One direction of flow: the CTI core publishes what happened (typed dataclasses),
the IVR, the router, the ASR side and the HTTP edge subscribe. ``EventBus`` is
the interface; ``LocalBus`` is the in-process implementation. A networked bus
(Redis, NATS) implements the same three methods so the server can later run
across several machines without its modules changing.

Delivery is supervised: every subscription has its own bounded queue and
worker task, so a slow subscriber never stalls the publisher (the AMI reader)
or the other subscribers; a handler that raises is logged with its name and
counted, and the next event is still delivered; a full queue drops the event
and counts the drop (visible in /metrics) instead of blocking.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, TypeVar

log = logging.getLogger("hotline.bus")

E = TypeVar("E")
Handler = Callable[[Any], "Awaitable[None] | None"]


class Subscription(Protocol):
    name: str

    def cancel(self) -> None: ...


class EventBus(Protocol):
    def publish(self, event: object) -> None: ...

    def subscribe(
        self,
        handler: Handler,
        *types: type,
        name: str | None = None,
        maxsize: int = 10_000,
    ) -> Subscription: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class _LocalSubscription:
    bus: "LocalBus"
    handler: Handler
    types: tuple[type, ...]
    name: str
    queue: asyncio.Queue[Any]
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    dropped: int = 0
    errors: int = 0
    is_coro: bool = False

    def wants(self, event: object) -> bool:
        return not self.types or isinstance(event, self.types)

    def cancel(self) -> None:
        self.bus._remove(self)

    async def run(self) -> None:
        q = self.queue
        handler = self.handler
        while True:
            event = await q.get()
            try:
                result = handler(event)
                if self.is_coro or inspect.isawaitable(result):
                    await result  # type: ignore[misc]
                self.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("subscriber %s failed on %s", self.name, type(event).__name__)
            finally:
                q.task_done()


@dataclass
class BusStats:
    published: int = 0
    by_subscriber: dict[str, dict[str, int]] = field(default_factory=dict)


class LocalBus:
    """In-process bus; one bounded queue and one supervised task per subscriber."""

    def __init__(self) -> None:
        self._subs: list[_LocalSubscription] = []
        self.published = 0

    def subscribe(
        self,
        handler: Handler,
        *types: type,
        name: str | None = None,
        maxsize: int = 10_000,
    ) -> _LocalSubscription:
        sub = _LocalSubscription(
            bus=self,
            handler=handler,
            types=tuple(types),
            name=name or getattr(handler, "__qualname__", repr(handler)),
            queue=asyncio.Queue(maxsize),
            is_coro=inspect.iscoroutinefunction(handler),
        )
        sub.task = asyncio.get_running_loop().create_task(sub.run(), name=f"bus:{sub.name}")
        self._subs.append(sub)
        return sub

    def publish(self, event: object) -> None:
        self.published += 1
        for sub in self._subs:
            if sub.wants(event):
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    sub.dropped += 1
                    if sub.dropped == 1 or sub.dropped % 1000 == 0:
                        log.error("subscriber %s is too slow: %d events dropped", sub.name, sub.dropped)

    def _remove(self, sub: _LocalSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if sub.task is not None:
            sub.task.cancel()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every subscriber has handled what was published so far (tests, shutdown)."""
        async def _all() -> None:
            for sub in list(self._subs):
                await sub.queue.join()

        await asyncio.wait_for(_all(), timeout)

    def stats(self) -> BusStats:
        return BusStats(
            published=self.published,
            by_subscriber={
                s.name: {"depth": s.queue.qsize(), "delivered": s.delivered, "dropped": s.dropped, "errors": s.errors}
                for s in self._subs
            },
        )

    async def close(self) -> None:
        subs, self._subs = self._subs, []
        for s in subs:
            if s.task is not None:
                s.task.cancel()
        for s in subs:
            if s.task is not None:
                try:
                    await s.task
                except (asyncio.CancelledError, Exception):
                    pass
