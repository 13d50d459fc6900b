"""Live wallboard figures per queue, group and site, and 15-minute interval history.

Fed with the engine's events (``Wallboard.on_event`` is the engine listener, or
part of it); live figures (waiting, longest wait, agents by state, active
overflow / surge modes) are read from the engine when a snapshot is taken.

Definitions (per scope; a finished call is answered, abandoned or sent on):
* service level: answered within the queue's target / finished calls, where
  abandons shorter than ``short_abandon`` seconds (default 0: none) are left
  out of the denominator;
* 15-second answer rate: answered within 15 s / finished calls;
* 接通率 answer rate: answered / finished; abandon rate: abandoned / finished;
* ASA: mean wait of answered calls; occupancy: time ringing, talking and in
  wrap-up over time staffed (available + those), since the interval began.
Groups and sites see the calls their agents answered (so their service level
is "answered within target / answered"); waiting and abandons belong to queues,
and a queue's waiting calls also show on the groups and sites of its first target.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from router.models import (
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallbackAccepted,
    CallConnected,
    CallEnded,
    CallExited,
    CallOffered,
    CallQueued,
    Clock,
    QueueModeChanged,
    RouterEvent,
)

if TYPE_CHECKING:
    from router.engine import Engine

S = AgentState
BUSY_STATES = (S.RINGING, S.ON_CALL, S.WRAP_UP)
STAFFED_STATES = (S.AVAILABLE, S.RINGING, S.ON_CALL, S.WRAP_UP)


@dataclass(slots=True)
class Counters:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    exited: int = 0
    callbacks: int = 0
    answered_in_target: int = 0
    answered_in_15: int = 0
    sum_wait: float = 0.0
    max_wait: float = 0.0
    handled: int = 0
    sum_handle: float = 0.0

    @property
    def finished(self) -> int:
        return self.answered + self.abandoned + self.exited

    def figures(self, answered_only: bool = False) -> dict[str, Any]:
        fin = self.answered if answered_only else self.finished
        sl_den = self.answered if answered_only else fin - self.abandoned_short

        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 4) if b > 0 else None

        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "callbacks": self.callbacks,
            "exited": self.exited,
            "service_level": ratio(self.answered_in_target, sl_den),
            "answer_rate_15s": ratio(self.answered_in_15, fin),
            "answer_rate": ratio(self.answered, fin),  # 接通率
            "abandon_rate": None if answered_only else ratio(self.abandoned, fin),
            "asa": round(self.sum_wait / self.answered, 1) if self.answered else None,
            "aht": round(self.sum_handle / self.handled, 1) if self.handled else None,
            "max_wait": round(self.max_wait, 1),
        }


@dataclass(frozen=True, slots=True)
class IntervalRow:
    """One row of the interval_stats table."""

    interval_start: float
    scope_kind: str  # queue | group | site
    scope_name: str
    offered: int
    answered: int
    abandoned: int
    answered_within_sl: int
    sum_wait: float
    sum_handle: float
    max_wait: float


@dataclass
class _Scopes:
    queue: dict[str, Counters] = field(default_factory=dict)
    group: dict[str, Counters] = field(default_factory=dict)
    site: dict[str, Counters] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Counters:
        d: dict[str, Counters] = getattr(self, kind)
        c = d.get(name)
        if c is None:
            c = d[name] = Counters()
        return c


class Wallboard:
    def __init__(self, engine: "Engine", clock: Clock, *, interval: float = 900.0, short_abandon: float = 0.0,
                 history: int = 20) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        self.short_abandon = short_abandon
        self.interval_start = self._start_of(clock())
        self.current = _Scopes()
        self.day = _Scopes()
        self.day_start = self._day_of(clock())
        self.decisions: dict[str, deque[dict[str, Any]]] = {}
        self.modes: dict[str, deque[dict[str, Any]]] = {}
        self._history = history
        self._state_time: dict[str, dict[S, float]] = {}
        self._state_since: dict[str, tuple[S, float]] = {}
        self._agent_call_queue: dict[str, str] = {}

    def _start_of(self, t: float) -> float:
        return math.floor(t / self.interval) * self.interval

    @staticmethod
    def _day_of(t: float) -> float:
        # days begin at local midnight (China Standard Time, UTC+8)
        return math.floor((t + 8 * 3600) / 86400) * 86400 - 8 * 3600

    # ------------------------------------------------------------------ events
    def on_event(self, ev: RouterEvent) -> None:
        for scopes in (self.current, self.day):
            self._count(scopes, ev)
        if isinstance(ev, AgentStateChanged):
            self._agent_time(ev)
        elif isinstance(ev, CallOffered):
            if "overflow" in ev.reason or "surge" in ev.reason:
                self._remember(self.decisions, ev.queue_id, {"at": ev.at, "call": ev.call_id, "agent": ev.agent_id,
                                                              "reason": ev.reason})
        elif isinstance(ev, QueueModeChanged):
            self._remember(self.modes, ev.queue_id, {"at": ev.at, "mode": ev.mode, "active": ev.active,
                                                     "reason": ev.reason})

    def _remember(self, store: dict[str, deque[dict[str, Any]]], key: str, item: dict[str, Any]) -> None:
        d = store.get(key)
        if d is None:
            d = store[key] = deque(maxlen=self._history)
        d.append(item)

    def _target(self, queue_id: str) -> float:
        q = self.engine.queues.get(queue_id)
        return q.cfg.sl_target if q is not None else 20.0

    def _count(self, sc: _Scopes, ev: RouterEvent) -> None:
        if isinstance(ev, CallQueued):
            sc.get("queue", ev.queue_id).offered += 1
        elif isinstance(ev, CallConnected):
            target = self._target(ev.queue_id)
            for kind, name in (("queue", ev.queue_id), ("group", ev.group_id), ("site", ev.site_id)):
                c = sc.get(kind, name)
                c.answered += 1
                c.sum_wait += ev.wait
                c.max_wait = max(c.max_wait, ev.wait)
                if ev.wait <= target:
                    c.answered_in_target += 1
                if ev.wait <= 15.0:
                    c.answered_in_15 += 1
        elif isinstance(ev, CallAbandoned):
            c = sc.get("queue", ev.queue_id)
            c.abandoned += 1
            c.max_wait = max(c.max_wait, ev.wait)
            if ev.wait < self.short_abandon:
                c.abandoned_short += 1
        elif isinstance(ev, CallExited):
            c = sc.get("queue", ev.queue_id)
            c.exited += 1
            c.max_wait = max(c.max_wait, ev.wait)
        elif isinstance(ev, CallbackAccepted):
            sc.get("queue", ev.queue_id).callbacks += 1
        elif isinstance(ev, CallEnded):
            for kind, name in (("queue", ev.queue_id), ("group", ev.group_id), ("site", ev.site_id)):
                c = sc.get(kind, name)
                c.handled += 1
                c.sum_handle += ev.talk + ev.wrapup

    def _agent_time(self, ev: AgentStateChanged) -> None:
        prev = self._state_since.get(ev.agent_id)
        if prev is not None:
            st, since = prev
            t = self._state_time.setdefault(ev.agent_id, {})
            t[st] = t.get(st, 0.0) + max(0.0, ev.at - max(since, self.interval_start))
        self._state_since[ev.agent_id] = (ev.new, ev.at)

    def _times(self, agent_id: str, now: float) -> dict[S, float]:
        t = dict(self._state_time.get(agent_id, {}))
        prev = self._state_since.get(agent_id)
        if prev is not None:
            st, since = prev
            t[st] = t.get(st, 0.0) + max(0.0, now - max(since, self.interval_start))
        return t

    # ------------------------------------------------------------------ intervals
    def roll(self) -> list[IntervalRow]:
        """Close every interval that has ended; returns the rows to store."""
        now = self.clock()
        rows: list[IntervalRow] = []
        while now >= self.interval_start + self.interval:
            end = self.interval_start + self.interval
            for kind in ("queue", "group", "site"):
                for name, c in getattr(self.current, kind).items():
                    rows.append(IntervalRow(self.interval_start, kind, name, c.offered, c.answered, c.abandoned,
                                            c.answered_in_target, round(c.sum_wait, 3), round(c.sum_handle, 3),
                                            round(c.max_wait, 3)))
            # close agents' time at the boundary
            for aid, (st, since) in list(self._state_since.items()):
                self._state_since[aid] = (st, max(since, end))
            self._state_time.clear()
            self.current = _Scopes()
            self.interval_start = end
        if self._day_of(now) != self.day_start:
            self.day = _Scopes()
            self.day_start = self._day_of(now)
        return rows

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        eng = self.engine
        by_state: dict[str, dict[str, dict[str, int]]] = {"group": {}, "site": {}, "queue": {}}
        busy_t: dict[tuple[str, str], float] = {}
        staffed_t: dict[tuple[str, str], float] = {}
        for seat in eng.seats.by_id.values():
            a = seat.agent
            keys = [("group", a.group_id), ("site", a.site_id)] + [("queue", q.id) for q, _ in seat.queues]
            times = self._times(a.id, now)
            busy = sum(times.get(s, 0.0) for s in BUSY_STATES)
            staffed = sum(times.get(s, 0.0) for s in STAFFED_STATES)
            for kind, name in keys:
                d = by_state[kind].setdefault(name, {s.value: 0 for s in S})
                d[seat.state.value] += 1
                busy_t[(kind, name)] = busy_t.get((kind, name), 0.0) + busy
                staffed_t[(kind, name)] = staffed_t.get((kind, name), 0.0) + staffed

        def occ(kind: str, name: str) -> float | None:
            st = staffed_t.get((kind, name), 0.0)
            return round(busy_t.get((kind, name), 0.0) / st, 4) if st > 0 else None

        queues = []
        home_waiting: dict[tuple[str, str], list[float]] = {}
        for q in eng.queues.values():
            waiting = q.waiting
            longest = q.longest_wait(now)
            first = q.cfg.targets[0]
            homes = [("group", g) for g in first.groups] + [("site", s) for s in first.sites]
            if first.all_sites:
                homes += [("site", s) for s in q.site_heaps]
            for h in homes:
                acc = home_waiting.setdefault(h, [0, 0.0])
                acc[0] += waiting
                acc[1] = max(acc[1], longest)
            ewt = q.queue_ewt(now)
            queues.append({
                "id": q.id,
                "name": q.cfg.name or q.id,
                "waiting": waiting,
                "waiting_by_class": {lane.name: len(lane) for lane in q.lanes},
                "callbacks_pending": len(q.callbacks),
                "longest_wait": round(longest, 1),
                "ewt": None if math.isinf(ewt) else round(ewt, 1),
                "staffed": round(q.staffed, 2),
                "sl_target": q.cfg.sl_target,
                "surge": q.surge,
                "modes": dict(q.mode_reasons),
                "mode_history": list(self.modes.get(q.id, ())),
                "overflow_decisions": list(self.decisions.get(q.id, ())),
                "site_active": dict(q.site_active),
                "site_caps": dict(q.caps),
                "agents": by_state["queue"].get(q.id, {}),
                "occupancy": occ("queue", q.id),
                "interval": self.current.get("queue", q.id).figures(),
                "today": self.day.get("queue", q.id).figures(),
            })

        def scope_rows(kind: str, names: list[str]) -> list[dict[str, Any]]:
            out = []
            for name in names:
                w = home_waiting.get((kind, name), [0, 0.0])
                out.append({
                    "id": name,
                    "waiting": w[0],
                    "longest_wait": round(w[1], 1),
                    "agents": by_state[kind].get(name, {}),
                    "occupancy": occ(kind, name),
                    "interval": self.current.get(kind, name).figures(answered_only=True),
                    "today": self.day.get(kind, name).figures(answered_only=True),
                })
            return out

        groups = sorted({s.agent.group_id for s in eng.seats.by_id.values()} | {g.id for g in eng.config.groups})
        sites = sorted({s.agent.site_id for s in eng.seats.by_id.values()} | {s.id for s in eng.config.sites})
        return {
            "at": now,
            "interval_start": self.interval_start,
            "day_start": self.day_start,
            "queues": queues,
            "groups": scope_rows("group", groups),
            "sites": scope_rows("site", sites),
        }


def row_dict(row: IntervalRow) -> dict[str, Any]:
    return asdict(row)
