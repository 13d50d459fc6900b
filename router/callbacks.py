"""Call-back offers: the caller keeps the place, hangs up, and is rung back.

Life of a call-back (every step written to the repository before it takes
effect, so a restart loses none):

    offered (EWT above the queue's threshold) -> accepted: stored PENDING with the
    caller's place (queue, lane, time the call entered the queue)
    -> the engine emits DialCallback when an agent is about to be free for that place
    -> DIALLING (attempt n) -> the citizen answers: DONE "answered" and the call is a
       normal waiting call again at its old place
                            -> no answer / busy / failed: PENDING again after
                               ``retry_after``, or FAILED after ``max_attempts``

After a restart ``restore_items`` reads every open call-back back; one that
was DIALLING when the server stopped is PENDING again (the attempt counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from router.engine import Engine, RestoredCall
from router.models import Clock


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DIALLING = "dialling"
    DONE = "done"
    FAILED = "failed"


OPEN = (CallbackStatus.PENDING, CallbackStatus.DIALLING)


@dataclass(slots=True)
class CallbackRequest:
    id: str
    call_id: str
    queue_id: str
    priority: str
    number: str
    enqueued_at: float  # the caller's place: when the call entered the queue
    requested_at: float
    status: CallbackStatus = CallbackStatus.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_attempt_at: float | None = None
    outcome: str | None = None
    outcomes: list[str] = field(default_factory=list)  # every attempt's result, in order


class CallbackRepository(Protocol):
    async def add(self, cb: CallbackRequest) -> CallbackRequest: ...  # returns it with its id set

    async def update(self, cb: CallbackRequest) -> None: ...

    async def open(self) -> list[CallbackRequest]: ...  # PENDING and DIALLING ones


class MemoryCallbackRepository:
    """In-process repository (tests, the simulator); keeps copies so callers cannot alias rows."""

    def __init__(self) -> None:
        self.rows: dict[str, CallbackRequest] = {}
        self._n = 0

    async def add(self, cb: CallbackRequest) -> CallbackRequest:
        self._n += 1
        stored = replace(cb, id=cb.id or str(self._n), outcomes=list(cb.outcomes))
        self.rows[stored.id] = stored
        return replace(stored, outcomes=list(stored.outcomes))

    async def update(self, cb: CallbackRequest) -> None:
        self.rows[cb.id] = replace(cb, outcomes=list(cb.outcomes))

    async def open(self) -> list[CallbackRequest]:
        return [replace(r, outcomes=list(r.outcomes)) for r in self.rows.values() if r.status in OPEN]


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    max_attempts: int = 3
    retry_after: float = 120.0
    ring_timeout: float = 30.0


class CallbackDesk:
    """Keeps the engine's view of call-backs and the repository in step."""

    def __init__(self, engine: Engine, repo: CallbackRepository, clock: Clock, policy: CallbackPolicy | None = None):
        self.engine = engine
        self.repo = repo
        self.clock = clock
        self.policy = policy or CallbackPolicy()
        self.by_call: dict[str, CallbackRequest] = {}

    def should_offer(self, call_id: str) -> bool:
        """Offer a call-back when the caller's expected wait is above the queue's threshold."""
        est = self.engine.estimate(call_id)
        q = self.engine.queues[self.engine.calls[call_id].queue_id]
        return math.isinf(est.seconds) or est.seconds >= q.cfg.callback_offer_wait

    async def accept(self, call_id: str, number: str) -> CallbackRequest:
        call = self.engine.calls[call_id]
        now = self.clock()
        cb = CallbackRequest("", call_id, call.queue_id, call.priority, number, call.enqueued_at, now)
        cb = await self.repo.add(cb)  # stored before the caller is let go
        self.engine.accept_callback(call_id, number, cb.id)
        self.by_call[call_id] = cb
        return cb

    async def request(self, call_id: str, queue_id: str, priority: str | None, number: str) -> CallbackRequest:
        """A call-back asked for outside a queue wait: stored, then placed last in its lane."""
        q = self.engine.queues[queue_id]
        lane = priority if priority in q.lane_by_name else q.cfg.default_class
        now = self.clock()
        cb = await self.repo.add(CallbackRequest("", call_id, queue_id, lane, number, now, now))
        self.engine.add_callback(call_id, queue_id, lane, number, cb.id)
        self.by_call[call_id] = cb
        return cb

    async def dialling(self, call_id: str) -> CallbackRequest:
        cb = self.by_call[call_id]
        cb.status = CallbackStatus.DIALLING
        cb.attempts += 1
        cb.last_attempt_at = self.clock()
        await self.repo.update(cb)
        return cb

    async def result(self, call_id: str, outcome: str, channel: str | None = None) -> list:
        """Outcome of a dial attempt: "answered" (with the citizen's channel), "no_answer", "busy", "failed"."""
        cb = self.by_call.get(call_id)
        if cb is None:
            return []
        cb.outcome = outcome
        cb.outcomes.append(outcome)
        now = self.clock()
        if outcome == "answered" and channel:
            cb.status = CallbackStatus.DONE
            await self.repo.update(cb)
            del self.by_call[call_id]
            return self.engine.callback_answered(call_id, channel)
        if cb.attempts >= self.policy.max_attempts:
            cb.status = CallbackStatus.FAILED
            await self.repo.update(cb)
            del self.by_call[call_id]
            self.engine.callback_failed(call_id, None)
            return []
        cb.status = CallbackStatus.PENDING
        cb.next_attempt_at = now + self.policy.retry_after
        await self.repo.update(cb)
        self.engine.callback_failed(call_id, cb.next_attempt_at)
        return []

    async def cancel(self, call_id: str, why: str = "cancelled") -> None:
        cb = self.by_call.pop(call_id, None)
        if cb is None:
            return
        cb.status = CallbackStatus.FAILED
        cb.outcome = why
        cb.outcomes.append(why)
        await self.repo.update(cb)
        self.engine.callback_failed(call_id, None)

    async def restore_items(self) -> list[RestoredCall]:
        """Open call-backs as engine items (their places kept); DIALLING ones become PENDING."""
        items = []
        for cb in await self.repo.open():
            if cb.status is CallbackStatus.DIALLING:
                cb.status = CallbackStatus.PENDING
                cb.outcomes.append("interrupted by restart")
                await self.repo.update(cb)
            self.by_call[cb.call_id] = cb
            items.append(RestoredCall(cb.call_id, cb.queue_id, cb.priority, cb.enqueued_at,
                                      callback_number=cb.number, callback_id=cb.id, attempts=cb.attempts,
                                      next_dial_at=cb.next_attempt_at))
        return items
