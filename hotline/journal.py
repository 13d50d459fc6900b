"""The call journal: what happened on each call, written to the database.

It is the persistence side of three contracts:

* ``cti.model.CdrSink``: the finished call (``calls`` row and ``call_legs``);
* ``ivr.ports.IvrRecorder``: the IVR path (``ivr_events``) and what the
  session collected (flow and version, survey score, entry hotline);
* ``ivr.ports.CallerHistory``: earlier calls of a number (repeat callers).

Writes are idempotent operations on one ordered queue, drained by a single
writer task in batches (operations gather for ``linger`` seconds, so a busy
hour costs one transaction per batch, not one per IVR step). When the database goes away the writer keeps the
operations and retries with back-off, so nothing already accepted is lost; the
backlog is visible as ``pending``. Operations on a call that has no row yet
create it first, so an IVR event never fails its foreign key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from cti.events import CallRecord, CallStarted
from hotline.storage.db import Database
from hotline.storage.models import Call, CallLeg, IvrEvent as IvrEventRow, WorkOrder
from ivr.ports import IvrEvent, SessionSummary

log = logging.getLogger("hotline.journal")

# The call model's leg roles -> the call_legs table's (caller/agent/external/conference):
# Local channels, transfer targets, call-back and unknown legs are all "external".
_LEG_ROLES = {"caller": "caller", "agent": "agent", "conference": "conference"}


@dataclass(frozen=True, slots=True)
class _Op:
    kind: str  # "start" | "event" | "summary" | "cdr"
    call_id: str
    payload: Any


class CallJournal:
    def __init__(
        self,
        db: Database,
        *,
        inbound_contexts: tuple[str, ...] = ("hotline-inbound",),
        batch: int = 500,
        linger: float = 0.2,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.inbound_contexts = inbound_contexts
        self.batch = batch
        self.linger = linger  # let operations gather for this long: one transaction per batch, not per step
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._sleep = sleep
        self._ops: deque[_Op] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.failures = 0
        self._queue_outcome: dict[str, str] = {}  # call id -> how its last queue wait ended, until its CDR
        self.rejected: list[_Op] = []  # operations the database refused as invalid (kept for inspection)

    # -- life cycle ------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hotline.journal")

    async def stop(self, timeout: float = 10.0) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except asyncio.TimeoutError:
            log.error("call journal stopped with %d operations unwritten", len(self._ops))
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def flush(self) -> None:
        while self._ops:
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()

    @property
    def pending(self) -> int:
        return len(self._ops)

    def _put(self, op: _Op) -> None:
        self._ops.append(op)
        self._wake.set()

    # -- inputs ----------------------------------------------------------
    def on_call_started(self, event: CallStarted) -> None:
        """Bus subscriber: open a citizen's call row as soon as it arrives.

        Only calls entering through an inbound context: legs the server originates
        (agents, transfers, call-backs) start as calls of their own and are then
        merged by the call model into the citizen's call; they get no row here."""
        if event.context in self.inbound_contexts:
            self._put(_Op("start", event.call_id, event))

    def record(self, event: IvrEvent) -> None:  # IvrRecorder
        self._put(_Op("event", event.call_id, event))

    async def finish(self, summary: SessionSummary) -> None:  # IvrRecorder
        self._put(_Op("summary", summary.call_id, summary))

    async def write(self, record: CallRecord) -> None:  # CdrSink
        self._put(_Op("cdr", record.call_id, record))

    async def recent_calls(self, caller: str, within: float, now: dt.datetime) -> int:  # CallerHistory
        if not caller:
            return 0
        since = now - dt.timedelta(seconds=within)
        async with self.db.session() as s:
            n = await s.scalar(
                select(func.count()).select_from(Call).where(Call.caller_number == caller, Call.started_at >= since, Call.started_at < now)
            )
        return int(n or 0)

    # -- writer ----------------------------------------------------------
    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            if not self._ops:
                self._idle.set()
                await self._wake.wait()
                self._wake.clear()
                continue
            if self.linger and len(self._ops) < self.batch:
                # Busy hours bring a steady trickle of IVR steps: writing each alone would put the
                # ORM's per-transaction work on the event loop thousands of times a second.
                await asyncio.sleep(self.linger)
            batch = [self._ops[i] for i in range(min(self.batch, len(self._ops)))]
            try:
                await self._apply(batch)
            except asyncio.CancelledError:
                raise
            except (IntegrityError, DataError) as exc:
                # Not a lost database: one operation is bad. Apply them one by one and set the bad ones aside.
                await self._apply_singly(batch, exc)
                for _ in batch:
                    self._ops.popleft()
                continue
            except Exception as exc:  # database unreachable, deadlock ...: keep the ops, retry
                self.failures += 1
                log.error("call journal write failed (%s); %d operations kept, retrying in %.1fs", type(exc).__name__, len(self._ops), delay)
                await self._sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_initial
            for _ in batch:
                self._ops.popleft()
            self.written += len(batch)

    async def _apply_singly(self, batch: list[_Op], first: Exception) -> None:
        for op in batch:
            try:
                await self._apply([op])
                self.written += 1
            except (IntegrityError, DataError) as exc:
                self.rejected.append(op)
                log.error("call journal rejected a %s operation for call %s: %s", op.kind, op.call_id, str(exc.orig)[:200])

    async def _apply(self, batch: list[_Op]) -> None:
        async with self.db.transaction() as s:
            ids = {op.call_id for op in batch}
            existing = {c.id: c for c in (await s.scalars(select(Call).where(Call.id.in_(ids)))).all()}
            next_seq: dict[str, int] = {}
            for op in batch:
                if op.kind == "cdr" and op.payload.part_of:
                    # legs originated for a call that had ended: they join that call's record
                    served_id = op.payload.part_of
                    served = existing.get(served_id) or await s.get(Call, served_id)
                    if served is not None:
                        existing[served_id] = served
                        await self._apply_late_legs(s, served, op.payload)
                        continue
                call = existing.get(op.call_id)
                if call is None:
                    call = Call(id=op.call_id, started_at=_started(op))
                    s.add(call)
                    existing[op.call_id] = call
                if op.kind == "start":
                    ev: CallStarted = op.payload
                    call.dnis = call.dnis or ev.dnis or None
                    call.caller_number = call.caller_number or ev.caller_num or None
                    call.caller_name = call.caller_name or ev.caller_name or None
                    call.started_at = min(call.started_at, ev.at) if call.started_at else ev.at
                elif op.kind == "event":
                    e: IvrEvent = op.payload
                    # A call can run several IVR sessions (the post-call survey, a return from a
                    # failed transfer), each numbering its steps from 1: the path is numbered per call.
                    if op.call_id not in next_seq:
                        top = await s.scalar(select(func.max(IvrEventRow.seq)).where(IvrEventRow.call_id == op.call_id))
                        next_seq[op.call_id] = (top or 0) + 1
                    seq = next_seq[op.call_id]
                    next_seq[op.call_id] = seq + 1
                    s.add(IvrEventRow(call_id=e.call_id, seq=seq, node_id=e.node_id[:128], event=e.event[:64], data=_jsonable(e.data), ts=e.ts))
                    if e.event == "enqueue" and e.data:
                        call.queue = call.queue or str(e.data.get("queue") or e.data.get("skill") or "")[:64] or None
                        self._queue_outcome[op.call_id] = "waiting"
                    elif e.event == "queue_outcome" and e.data:
                        self._queue_outcome[op.call_id] = str(e.data.get("outcome") or "")
                elif op.kind == "summary":
                    sm: SessionSummary = op.payload
                    call.flow_name = sm.flow
                    call.flow_version = sm.flow_version
                    call.hotline = sm.hotline or call.hotline
                    if sm.survey_score is not None:
                        call.survey_score = sm.survey_score
                        # the score is the work order's satisfaction too (满意度): every order opened on this call
                        await s.execute(update(WorkOrder).where(WorkOrder.call_id == op.call_id)
                                        .values(satisfaction=sm.survey_score))
                    call.dnis = call.dnis or sm.dnis or None
                    call.caller_number = call.caller_number or sm.caller or None
                    q = sm.variables.get("queue") if isinstance(sm.variables, dict) else None
                    if q and not call.queue:
                        call.queue = str(q)
                elif op.kind == "cdr":
                    await self._apply_cdr(s, call, op.payload)

    async def _apply_late_legs(self, s: Any, call: Call, r: CallRecord) -> None:
        """The legs of a record that is ``part_of`` ``call``; the call's own figures stay as they were,
        but a call-back answered by an agent names that agent."""
        call.agent = call.agent or r.agent or None
        await self._add_legs(s, call, r)

    async def _apply_cdr(self, s: Any, call: Call, r: CallRecord) -> None:
        call.dnis = call.dnis or r.dnis or None
        call.caller_number = call.caller_number or r.caller_num or None
        call.caller_name = call.caller_name or r.caller_name or None
        call.started_at = r.started_at
        call.answered_at = r.connected_at or r.answered_at
        call.ended_at = r.ended_at
        call.hangup_cause = r.hangup_cause
        call.agent = r.agent or call.agent
        queue_outcome = self._queue_outcome.pop(call.id, "waiting" if call.queue else None)
        call.disposition = _disposition(r, queue_outcome)
        await self._add_legs(s, call, r)

    @staticmethod
    async def _add_legs(s: Any, call: Call, r: CallRecord) -> None:
        known = set((await s.scalars(select(CallLeg.uniqueid).where(CallLeg.uniqueid.in_([leg.leg_id for leg in r.legs])))).all())
        for leg in r.legs:
            if leg.leg_id in known:
                continue
            s.add(
                CallLeg(
                    call_id=call.id,
                    channel=leg.channel[:128],
                    uniqueid=leg.leg_id,
                    role=_LEG_ROLES.get(leg.role, "external"),
                    number=(leg.caller_num or leg.exten or None),
                    started_at=leg.created_at,
                    answered_at=leg.answered_at,
                    ended_at=leg.hungup_at,
                    hangup_cause=leg.hangup_cause,
                )
            )


def _started(op: _Op) -> dt.datetime:
    p = op.payload
    for attr in ("at", "started_at", "ts"):
        v = getattr(p, attr, None)
        if isinstance(v, dt.datetime):
            return v
    return dt.datetime.now(dt.timezone.utc)


def _disposition(r: CallRecord, queue_outcome: str | None = None) -> str:
    if r.lost:
        return "lost"
    if r.transfers:
        return "transferred"
    if r.agent:
        return "answered"
    if queue_outcome in ("waiting", "hangup"):
        return "abandoned"  # waited for an agent and left before one answered
    if queue_outcome == "callback":
        return "callback"
    if queue_outcome == "overflow":
        return "overflow"
    if r.disposition == "ANSWERED":
        return "ivr"
    return r.disposition.lower().replace(" ", "_")


def _jsonable(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, dict):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_jsonable(v) for v in data]
    if isinstance(data, (str, int, float, bool)):
        return data
    if isinstance(data, dt.datetime):
        return data.isoformat()
    if hasattr(data, "items"):
        return {str(k): _jsonable(v) for k, v in data.items()}
    return str(data)
