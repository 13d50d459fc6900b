"""Small repositories between the router and hotline.storage (SQLAlchemy 2, async).

* ``load_routing_config``: sites, groups, agents with skills, queues -> RoutingConfig.
  A queue's routing rules live in its ``overflow`` JSON column::

      {"targets": [{"after": 0, "groups": ["g1"]}, {"after": 30, "sites": ["centre"]},
                   {"after": 60, "all_sites": true}],
       "overflow": [{"ewt_above": 90, "sites": ["east"], "name": "east sub-centre"}],
       "surge": {"enter_ewt": 180, "exit_ewt": 60, "wrapup": 3},
       "site_caps": {"east": 10}, "strategy": "best_proficiency_longest_idle",
       "callback_offer_wait": 120, "max_wait": 600, "exit_destination": "12333"}

  ``priority_classes`` is a list of ``{"name": ..., "rank": ...}`` (0 first, the IVR's scale).
* ``SqlCallbackRepository``: call-backs in ``callbacks`` (the caller's place is kept in
  ``requested_at`` = when the call entered the queue; ``due_at`` = next attempt).
* ``SqlStateSink``: agent state changes to ``agent_state_events`` (and ``agents.state``),
  interval rows to ``interval_stats``; writes are queued and batched by one task.
* ``load_agent_records``: agents' last states for recovery.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Sequence

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hotline.storage import models as m
from router.callbacks import CallbackRequest, CallbackStatus
from router.models import (
    DEFAULT_CLASSES,
    Agent,
    AgentState,
    AgentStateChanged,
    Group,
    OverflowRule,
    PriorityClass,
    QueueConfig,
    RouterEvent,
    RoutingConfig,
    Site,
    Strategy,
    SurgePolicy,
    Target,
)
from router.service import AgentRecord
from router.wallboard import IntervalRow

log = logging.getLogger("hotline.router")

_STATE_TO_DB = {
    AgentState.LOGGED_OUT: m.AgentState.OFFLINE,
    AgentState.AVAILABLE: m.AgentState.AVAILABLE,
    AgentState.RINGING: m.AgentState.RINGING,
    AgentState.ON_CALL: m.AgentState.BUSY,
    AgentState.WRAP_UP: m.AgentState.WRAPUP,
    AgentState.PAUSED: m.AgentState.BREAK,
}
_STATE_FROM_DB = {v.value: k for k, v in _STATE_TO_DB.items()}

_targets = TypeAdapter(list[Target])
_overflow = TypeAdapter(list[OverflowRule])
_surge = TypeAdapter(SurgePolicy)


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _epoch(d: datetime | None) -> float:
    if d is None:
        return 0.0
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def queue_config(row: m.Queue) -> QueueConfig:
    rules: dict[str, Any] = dict(row.overflow or {})
    skill = row.skill.name if row.skill is not None else row.name
    classes = tuple(
        PriorityClass(str(c["name"]), int(c.get("rank", c.get("priority", 5)))) for c in (row.priority_classes or [])
    ) or DEFAULT_CLASSES
    default = rules.get("default_class") or ("normal" if any(c.name == "normal" for c in classes) else classes[-1].name)
    targets = tuple(_targets.validate_python(rules.get("targets") or [{"after": 0, "all_sites": True}]))
    return QueueConfig(
        id=row.name,
        skill=skill,
        targets=targets,
        name=row.name,
        classes=classes,
        default_class=default,
        wrapup=float(row.wrapup_seconds),
        strategy=Strategy(rules.get("strategy", Strategy.BEST_PROFICIENCY_LONGEST_IDLE.value)),
        overflow=tuple(_overflow.validate_python(rules.get("overflow") or [])),
        surge=_surge.validate_python(rules["surge"]) if rules.get("surge") else None,
        site_caps={str(k): int(v) for k, v in (rules.get("site_caps") or {}).items()},
        sl_target=float(row.service_level_seconds),
        callback_offer_wait=float(rules.get("callback_offer_wait", 120.0)),
        max_wait=rules.get("max_wait"),
        exit_destination=rules.get("exit_destination"),
    )


async def load_routing_config(session: Any) -> RoutingConfig:
    sites = (await session.execute(select(m.Site))).scalars().all()
    groups = (await session.execute(select(m.Group).options(selectinload(m.Group.site)))).scalars().all()
    agents = (await session.execute(
        select(m.Agent).options(selectinload(m.Agent.skills).selectinload(m.AgentSkill.skill),
                                selectinload(m.Agent.group).selectinload(m.Group.site), selectinload(m.Agent.site))
    )).scalars().all()
    queues = (await session.execute(select(m.Queue).options(selectinload(m.Queue.skill)))).scalars().all()
    site_list = [Site(s.name, s.description or s.name) for s in sites]
    group_list = [Group(g.name, g.site.name if g.site else "default", g.name) for g in groups]
    if any(g.site_id == "default" for g in group_list) or not site_list:
        site_list.append(Site("default"))
    agent_list = []
    for a in agents:
        group = a.group.name if a.group else "default"
        site = a.site.name if a.site else (a.group.site.name if a.group and a.group.site else "default")
        agent_list.append(Agent(str(a.id), a.extension, group, site,
                                {s.skill.name: int(s.proficiency) for s in a.skills}, a.name))
    if any(a.group_id == "default" for a in agent_list):
        group_list.append(Group("default", "default"))
        if not any(s.id == "default" for s in site_list):
            site_list.append(Site("default"))
    return RoutingConfig(tuple(site_list), tuple(group_list), tuple(agent_list), tuple(queue_config(q) for q in queues))


async def load_agent_records(session: Any) -> list[AgentRecord]:
    out = []
    for a in (await session.execute(select(m.Agent))).scalars().all():
        state = _STATE_FROM_DB.get(a.state, AgentState.LOGGED_OUT)
        reason = ""
        if state is AgentState.PAUSED:
            ev = (await session.execute(
                select(m.AgentStateEvent).where(m.AgentStateEvent.agent_id == a.id)
                .order_by(m.AgentStateEvent.ts.desc(), m.AgentStateEvent.id.desc()).limit(1)
            )).scalar_one_or_none()
            reason = (ev.reason or "") if ev is not None else ""
        out.append(AgentRecord(str(a.id), state, reason))
    return out


class SqlCallbackRepository:
    def __init__(self, db: Any, config: RoutingConfig) -> None:
        self.db = db
        self._rank = {(q.id, c.name): c.rank for q in config.queues for c in q.classes}
        self._name = {(q.id, c.rank): c.name for q in config.queues for c in q.classes}

    def _apply(self, row: m.Callback, cb: CallbackRequest) -> None:
        row.call_id = cb.call_id
        row.number = cb.number
        row.queue = cb.queue_id
        row.priority = self._rank.get((cb.queue_id, cb.priority), 5)
        row.requested_at = _ts(cb.enqueued_at)
        row.due_at = _ts(cb.next_attempt_at or cb.requested_at)
        row.status = cb.status.value
        row.attempts = cb.attempts
        row.last_attempt_at = _ts(cb.last_attempt_at) if cb.last_attempt_at else None
        row.outcome = ",".join(cb.outcomes)[-255:] or None

    async def add(self, cb: CallbackRequest) -> CallbackRequest:
        async with self.db.session() as s:
            row = m.Callback()
            self._apply(row, cb)
            s.add(row)
            await s.commit()
            cb.id = str(row.id)
        return cb

    async def update(self, cb: CallbackRequest) -> None:
        async with self.db.session() as s:
            row = await s.get(m.Callback, int(cb.id))
            if row is None:
                raise KeyError(f"call-back {cb.id} not stored")
            self._apply(row, cb)
            await s.commit()

    async def open(self) -> list[CallbackRequest]:
        async with self.db.session() as s:
            rows = (await s.execute(
                select(m.Callback).where(m.Callback.status.in_([CallbackStatus.PENDING.value,
                                                                 CallbackStatus.DIALLING.value]))
                .order_by(m.Callback.requested_at)
            )).scalars().all()
        out = []
        for r in rows:
            outcomes = [o for o in (r.outcome or "").split(",") if o]
            out.append(CallbackRequest(
                str(r.id), r.call_id or f"cb-{r.id}", r.queue, self._name.get((r.queue, r.priority), "normal"),
                r.number, _epoch(r.requested_at), _epoch(r.requested_at), CallbackStatus(r.status), r.attempts,
                _epoch(r.due_at), _epoch(r.last_attempt_at) if r.last_attempt_at else None,
                outcomes[-1] if outcomes else None, outcomes,
            ))
        return out


class SqlStateSink:
    """Queues router events and interval rows; one task writes them in batches."""

    def __init__(self, db: Any, *, maxsize: int = 100_000, batch: int = 500) -> None:
        self.db = db
        self._q: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.errors = 0

    def record(self, event: RouterEvent) -> None:
        if isinstance(event, AgentStateChanged):
            self._put(event)

    def intervals(self, rows: Sequence[IntervalRow]) -> None:
        for r in rows:
            self._put(r)

    def _put(self, item: Any) -> None:
        try:
            self._q.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="router:store")

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def flush(self) -> None:
        items = []
        while not self._q.empty():
            items.append(self._q.get_nowait())
        if items:
            await self._write(items)

    async def _run(self) -> None:
        while True:
            items = [await self._q.get()]
            while len(items) < self._batch and not self._q.empty():
                items.append(self._q.get_nowait())
            try:
                await self._write(items)
            except Exception:
                self.errors += 1
                log.exception("router: storing %d events failed", len(items))

    async def _write(self, items: list[Any]) -> None:
        async with self.db.session() as s:
            rows: dict[tuple[datetime, str, str], m.IntervalStat] = {}
            for it in items:
                if isinstance(it, AgentStateChanged):
                    try:
                        aid = int(it.agent_id)
                    except ValueError:
                        continue
                    state = _STATE_TO_DB[it.new].value
                    s.add(m.AgentStateEvent(agent_id=aid, state=state, reason=it.reason[:128], ts=_ts(it.at)))
                    row = await s.get(m.Agent, aid)
                    if row is not None:
                        row.state = state
                        row.state_since = _ts(it.at)
                elif isinstance(it, IntervalRow):
                    start = _ts(it.interval_start)
                    key = (start, it.scope_kind, it.scope_name)
                    row = rows.get(key)
                    if row is None:
                        row = (await s.execute(select(m.IntervalStat).where(
                            m.IntervalStat.interval_start == start, m.IntervalStat.scope_kind == it.scope_kind,
                            m.IntervalStat.scope_name == it.scope_name))).scalar_one_or_none()
                    if row is None:
                        row = m.IntervalStat(interval_start=start, scope_kind=it.scope_kind, scope_name=it.scope_name)
                        s.add(row)
                    rows[key] = row
                    row.offered = it.offered
                    row.answered = it.answered
                    row.abandoned = it.abandoned
                    row.answered_within_sl = it.answered_within_sl
                    row.sum_wait = it.sum_wait
                    row.sum_handle = it.sum_handle
                    row.max_wait = it.max_wait
            await s.commit()
