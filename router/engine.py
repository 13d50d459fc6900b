"""The routing decision engine: pure, synchronous, driven by an injected clock.

The engine decides; the CTI core carries decisions out (router.service). Every
entry point returns the actions to carry out (``Decision`` = ring this seat for
this call, ``ExitDecision``, ``DialCallback``) and reports what happened to an
optional listener as typed events (wallboard, storage).

Invariant kept after every entry point: no available agent is eligible for a
waiting call. So a new call only needs the best available agent in its current
rings, a freed agent only needs the heads of the lanes it serves, and time
only matters when a call's ring widens (a timer), when a mode switches on
(overflow, surge) or when a per-site cap frees a slot (a re-match of the queue).

Eligibility of agent A for call C of queue Q:
    A has Q's skill, A is available,
    C has waited at least A's "after" (the first target that includes A; 0 when an
    active overflow rule includes A, or when surge mode opens every target),
    A's site is under Q's cap for that site.
Choice for a call: the best entry of the heaps in scope (strategy key).
Choice for an agent: lowest priority rank, then earliest place, among lane heads.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from router.estimate import WaitEstimate
from router.models import (
    INF,
    Action,
    Agent,
    AgentState,
    CallAbandoned,
    CallbackAccepted,
    CallConnected,
    CallEnded,
    CallExited,
    CallOffered,
    CallQueued,
    CallRequeued,
    CallState,
    Clock,
    Decision,
    DialCallback,
    ExitDecision,
    QueueModeChanged,
    RouterEvent,
    RoutingConfig,
    Strategy,
    WaitingCall,
)
from router.queues import QueueRuntime
from router.seats import DEFERRING, STAFFED, InvalidTransition, Seat, Seats

Listener = Callable[[RouterEvent], None]
S = AgentState
C = CallState


class RoutingError(Exception):
    """An entry point was called for an unknown call/agent or in the wrong state."""


@dataclass(frozen=True, slots=True)
class RestoredCall:
    """A call found again after a restart (database row checked against the PBX's channels)."""

    call_id: str
    queue_id: str
    priority: str
    enqueued_at: float
    caller: str = ""
    channel: str | None = None
    callback_number: str | None = None  # set: the caller awaits a call-back, the place is kept
    callback_id: str | None = None
    attempts: int = 0
    next_dial_at: float = 0.0


def _fmt_wait(seconds: float) -> str:
    return "unbounded (nobody staffed)" if math.isinf(seconds) else f"{seconds:.0f}s"


_STRATEGY_WORDS = {
    Strategy.BEST_PROFICIENCY_LONGEST_IDLE: "longest idle among proficiency",
    Strategy.LONGEST_IDLE: "longest idle, proficiency",
    Strategy.FEWEST_CALLS: "fewest calls, proficiency",
}


class Engine:
    def __init__(
        self,
        config: RoutingConfig,
        clock: Clock,
        *,
        listener: Listener | None = None,
        default_aht: float = 240.0,
        callback_lead: float = 20.0,
    ) -> None:
        self.clock = clock
        self.config = config
        self.seats = Seats()
        self.queues: dict[str, QueueRuntime] = {q.id: QueueRuntime(q, default_aht) for q in config.queues}
        self._by_skill: dict[str, list[QueueRuntime]] = {}
        for q in self.queues.values():
            self._by_skill.setdefault(q.cfg.skill, []).append(q)
        self.calls: dict[str, WaitingCall] = {}
        self._timers: list[tuple[float, int, str, Any]] = []
        self._counter = itertools.count(1)
        self._listener = listener
        self.callback_lead = callback_lead
        for a in config.agents:
            self.add_agent(a)

    # ================================================================ set-up
    def add_agent(self, agent: Agent) -> Seat:
        if agent.id in self.seats.by_id:
            raise RoutingError(f"agent {agent.id} already known")
        seat = self.seats.add(agent)
        for skill, prof in agent.skills.items():
            for q in self._by_skill.get(skill, ()):
                q.add_agent(agent, prof)
                if q.serves(agent.id):
                    seat.queues.append((q, prof))
        return seat

    def _emit(self, event: RouterEvent) -> None:
        if self._listener is not None:
            self._listener(event)

    def _timer(self, due: float, kind: str, obj: Any) -> None:
        heapq.heappush(self._timers, (due, next(self._counter), kind, obj))

    def next_due(self) -> float | None:
        """When ``advance`` next has something to do (None: only on events)."""
        return self._timers[0][0] if self._timers else None

    # ================================================================ seats
    def _change(self, seat: Seat, event: str, reason: str, call_id: str | None = None) -> None:
        ev = self.seats.transition(seat, event, reason, self.clock(), call_id)
        was, now_staffed = ev.old in STAFFED, ev.new in STAFFED
        if was != now_staffed and seat.queues:
            w = (1.0 if now_staffed else -1.0) / len(seat.queues)
            for q, _ in seat.queues:
                q.staffed = max(0.0, q.staffed + w)
        if ev.new is S.AVAILABLE:
            for q, prof in seat.queues:
                q.push_available(seat, prof)
        self._emit(ev)

    def _apply_pending(self, seat: Seat) -> bool:
        if seat.pending is None:
            return False
        kind, why = seat.pending
        seat.pending = None
        if self.seats.can(seat, kind):
            self._change(seat, kind, why)
            return True
        return False

    def _to_available(self, seat: Seat, event: str, reason: str) -> list[Action]:
        if seat.state is S.WRAP_UP and self._apply_pending(seat):
            return []
        self._change(seat, event, reason)
        if self._apply_pending(seat):
            return []
        return self._match_agent(seat)

    def _seat(self, agent_id: str) -> Seat:
        seat = self.seats.by_id.get(agent_id)
        if seat is None:
            raise RoutingError(f"unknown agent {agent_id!r}")
        return seat

    def login(self, agent_id: str, paused_reason: str | None = None) -> list[Action]:
        seat = self._seat(agent_id)
        if seat.state is not S.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id} is already logged in ({seat.state.value})")
        if paused_reason:
            self._change(seat, "login_paused", paused_reason)
            return []
        self._change(seat, "login", "logged in")
        return self._match_agent(seat)

    def logout(self, agent_id: str, reason: str = "logged out") -> list[Action]:
        seat = self._seat(agent_id)
        if seat.state in DEFERRING:
            seat.pending = ("logout", reason)
            return []
        if seat.state is S.LOGGED_OUT:
            return []
        self._change(seat, "logout", reason)
        return []

    def pause(self, agent_id: str, reason: str) -> list[Action]:
        if not reason:
            raise RoutingError("a pause needs a reason")
        seat = self._seat(agent_id)
        if seat.state in DEFERRING:
            seat.pending = ("pause", reason)
            return []
        self._try(seat, "pause", reason)
        return []

    def unpause(self, agent_id: str) -> list[Action]:
        seat = self._seat(agent_id)
        if seat.state in DEFERRING and seat.pending and seat.pending[0] == "pause":
            seat.pending = None
            return []
        self._try(seat, "unpause", "ready")
        return self._match_agent(seat)

    def ready(self, agent_id: str) -> list[Action]:
        """End wrap-up early."""
        seat = self._seat(agent_id)
        if seat.state is not S.WRAP_UP:
            raise RoutingError(f"agent {agent_id} is not in wrap-up")
        return self._to_available(seat, "ready", "wrap-up ended by the agent")

    def _try(self, seat: Seat, event: str, reason: str) -> None:
        try:
            self._change(seat, event, reason)
        except InvalidTransition as exc:
            raise RoutingError(str(exc)) from None

    # ================================================================ calls in
    def enqueue(
        self,
        call_id: str,
        queue_id: str,
        priority: str | None = None,
        *,
        caller: str = "",
        channel: str | None = None,
    ) -> tuple[WaitingCall, list[Action]]:
        existing = self.calls.get(call_id)
        if existing is not None:  # the same caller again (e.g. the IVR re-attaching after a restart)
            if channel and existing.channel != channel:
                existing.channel = channel
            return existing, []
        q = self.queues.get(queue_id)
        if q is None:
            raise RoutingError(f"unknown queue {queue_id!r}")
        lane = q.lane_by_name.get(priority or q.cfg.default_class)
        if lane is None:
            lane = q.lane_by_name[q.cfg.default_class]
        now = self.clock()
        call = WaitingCall(call_id, q.id, lane.name, lane.rank, now, (now, next(self._counter)), caller, channel)
        self.calls[call_id] = call
        self._emit(CallQueued(call_id, q.id, lane.name, now))
        lane.push(call)
        actions = self._update_modes(q, now)
        if call.state is C.WAITING:
            d = self._match_call(call, q, now)
            if d is not None:
                lane.remove(call)
                actions.append(d)
            else:
                self._schedule(call, q, now)
        return call, actions

    def _schedule(self, call: WaitingCall, q: QueueRuntime, now: float) -> None:
        nxt = q.next_widening(call.enqueued_at, now - call.enqueued_at)
        if nxt is not None:
            self._timer(nxt, "widen", call)
        if q.cfg.max_wait is not None and call.attempts == 0 and call.callback_id is None:
            self._timer(call.enqueued_at + q.cfg.max_wait, "exit", call)

    # ================================================================ matching
    def _match_call(self, call: WaitingCall, q: QueueRuntime, now: float) -> Decision | None:
        """Best available agent for ``call`` within its current rings; offers it (call stays in its lane)."""
        wait = now - call.enqueued_at
        ring = q.ring_index(wait)
        if ring < 0 and not any(q.overflow_active):
            return None
        best = None
        caps = q.caps
        for heap, minp in q.scopes(ring):
            if caps and not q.site_open(heap.site_id):
                continue
            e = heap.top()
            if e is None:
                continue
            if e[3] < minp:
                if q.proficiency_first:
                    continue
                e = heap.best_with(minp)
                if e is None:
                    continue
            if best is None or e < best:
                best = e
        if best is None:
            return None
        seat: Seat = best[4]
        reason = self._reason(q, seat, best[3], wait, ring, "call arrived" if call.attempts == 0 else "call waiting")
        return self._offer(call, seat, q, reason, now)

    def _match_agent(self, seat: Seat) -> list[Action]:
        """Best waiting call for a seat that just became available; offers it."""
        now = self.clock()
        best: WaitingCall | None = None
        best_key: Any = None
        best_q: QueueRuntime | None = None
        best_prof = 0
        site = seat.agent.site_id
        aid = seat.agent.id
        for q, prof in seat.queues:
            if q.caps and not q.site_open(site):
                continue
            after = q.eligible_after(aid) if q.modes_on else q.after.get(aid, INF)
            if after == INF:
                continue
            for lane in q.lanes:
                if lane.seqs:
                    call = lane.calls[lane.seqs[0]]
                    if now - call.enqueued_at >= after:
                        key = (lane.rank, call.seq)
                        if best_key is None or key < best_key:
                            best, best_key, best_q, best_prof = call, key, q, prof
                        break
        if best is None or best_q is None:
            return []
        best_q.lane_by_name[best.priority].pop_head()
        wait = now - best.enqueued_at
        reason = self._reason(best_q, seat, best_prof, wait, best_q.ring_index(wait), "agent became free")
        return [self._offer(best, seat, best_q, reason, now)]

    def _reason(self, q: QueueRuntime, seat: Seat, prof: int, wait: float, ring: int, trigger: str) -> str:
        a = seat.agent
        base = q.after.get(a.id, INF)
        if base <= wait:
            why = q.ring_label(q.ring_of[a.id])
        elif q.surge and base < INF:
            why = "surge mode opened " + q.ring_label(q.ring_of[a.id]) + " at once"
        else:
            overflow = [r for k, r in q.mode_reasons.items() if k.startswith("overflow:")]
            why = overflow[0] if overflow else "overflow"
        return (
            f"{trigger}: {_STRATEGY_WORDS[q.cfg.strategy]} {prof} -> agent {a.id} "
            f"(group {a.group_id}, site {a.site_id}); {why}; waited {wait:.0f}s"
        )

    def _offer(self, call: WaitingCall, seat: Seat, q: QueueRuntime, reason: str, now: float) -> Decision:
        call.state = C.OFFERED
        call.agent_id = seat.agent.id
        call.offered_at = now
        call.attempts += 1
        site = seat.agent.site_id
        call.site_id = site
        q.site_active[site] = q.site_active.get(site, 0) + 1
        self._change(seat, "reserve", f"offered call {call.id}", call.id)
        self._emit(CallOffered(call.id, q.id, seat.agent.id, reason, now))
        return Decision(call.id, seat.agent.id, seat.agent.seat, q.id, reason, now)

    def _rematch_queue(self, q: QueueRuntime, now: float) -> list[Action]:
        out: list[Action] = []
        for lane in q.lanes:
            while lane.seqs:
                call = lane.calls[lane.seqs[0]]
                d = self._match_call(call, q, now)
                if d is None:
                    break
                lane.pop_head()
                out.append(d)
        return out

    def _release_site(self, q: QueueRuntime, site: str | None) -> bool:
        """One call of ``q`` left an agent of ``site``; True when that reopens a capped site."""
        if site is None:
            return False
        n = q.site_active.get(site, 0) - 1
        q.site_active[site] = max(0, n)
        cap = q.caps.get(site)
        return cap is not None and n == cap - 1

    # ================================================================ modes
    def _update_modes(self, q: QueueRuntime, now: float) -> list[Action]:
        cfg = q.cfg
        if not cfg.overflow and cfg.surge is None:
            return []
        e = q.queue_ewt(now)
        opened = False
        for i, rule in enumerate(cfg.overflow):
            key = "overflow:" + rule.label()
            if not q.overflow_active[i] and e >= rule.ewt_above:
                q.overflow_active[i] = True
                reason = f"expected wait {_fmt_wait(e)} >= {rule.ewt_above:.0f}s: overflow to {rule.label()}"
                q.mode_reasons[key] = reason
                self._emit(QueueModeChanged(q.id, key, True, reason, now))
                opened = True
            elif q.overflow_active[i] and e <= rule.off_below():
                q.overflow_active[i] = False
                q.mode_reasons.pop(key, None)
                reason = f"expected wait {_fmt_wait(e)} <= {rule.off_below():.0f}s: overflow to {rule.label()} ends"
                self._emit(QueueModeChanged(q.id, key, False, reason, now))
        sp = cfg.surge
        if sp is not None:
            if not q.surge and e >= sp.enter_ewt:
                q.surge = True
                reason = f"expected wait {_fmt_wait(e)} >= {sp.enter_ewt:.0f}s: surge mode (all targets open"
                reason += f", wrap-up {sp.wrapup:.0f}s)" if sp.wrapup is not None else ")"
                q.mode_reasons["surge"] = reason
                self._emit(QueueModeChanged(q.id, "surge", True, reason, now))
                opened = True
            elif q.surge and e <= sp.exit_ewt:
                q.surge = False
                q.mode_reasons.pop("surge", None)
                reason = f"expected wait {_fmt_wait(e)} <= {sp.exit_ewt:.0f}s: surge mode ends"
                self._emit(QueueModeChanged(q.id, "surge", False, reason, now))
        q.modes_on = q.surge or any(q.overflow_active)
        return self._rematch_queue(q, now) if opened else []

    # ================================================================ call outcomes
    def _call(self, call_id: str) -> WaitingCall:
        call = self.calls.get(call_id)
        if call is None:
            raise RoutingError(f"unknown call {call_id!r}")
        return call

    def connected(self, call_id: str) -> None:
        """The agent answered and the bridge is up."""
        call = self._call(call_id)
        if call.state is not C.OFFERED or call.agent_id is None:
            raise RoutingError(f"call {call_id} is {call.state.value}, not offered")
        now = self.clock()
        seat = self._seat(call.agent_id)
        call.state = C.CONNECTED
        call.connected_at = now
        seat.calls_handled += 1
        self._change(seat, "answer", f"connected to call {call_id}", call_id)
        a = seat.agent
        self._emit(CallConnected(call_id, call.queue_id, a.id, a.group_id, a.site_id, now - call.enqueued_at, now))

    def ring_failed(self, call_id: str, reason: str = "ring-no-answer") -> list[Action]:
        """The agent's phone did not answer (or was busy / unreachable): call back to the head, agent not ready."""
        call, q, seat, now = self._requeue_at_head(call_id, reason)
        self._change(seat, "no_answer", reason)
        self._apply_pending(seat)
        out = self._rematch_queue(q, now)
        if call.state is C.WAITING:
            self._schedule(call, q, now)
        return out

    def offer_failed(self, call_id: str, reason: str) -> list[Action]:
        """The offer could not be carried out at all (call control error): the call goes back to the
        head of its lane and the agent, who is not at fault, is available again."""
        call, q, seat, now = self._requeue_at_head(call_id, reason)
        out = self._to_available(seat, "offer_cancelled", reason)
        out += self._rematch_queue(q, now)
        if call.state is C.WAITING:
            self._schedule(call, q, now)
        return out

    def _requeue_at_head(self, call_id: str, reason: str) -> tuple[WaitingCall, QueueRuntime, Seat, float]:
        """An offered call goes back to the head of its lane (its seat is the caller's to settle)."""
        call = self._call(call_id)
        if call.state is not C.OFFERED or call.agent_id is None:
            raise RoutingError(f"call {call_id} is {call.state.value}, not offered")
        now = self.clock()
        q = self.queues[call.queue_id]
        seat = self._seat(call.agent_id)
        self._release_site(q, call.site_id)
        lane = q.lane_by_name[call.priority]
        call.state = C.WAITING
        call.agent_id = None
        call.site_id = None
        call.seq = lane.head_seq_before(next(self._counter))
        lane.push(call)
        self._emit(CallRequeued(call_id, q.id, seat.agent.id, reason, now))
        return call, q, seat, now

    def abandon(self, call_id: str) -> list[Action]:
        """The caller hung up. Waiting: abandoned. Ringing an agent: abandoned, the agent is free again."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        now = self.clock()
        q = self.queues[call.queue_id]
        if call.state is C.WAITING:
            q.lane_by_name[call.priority].remove(call)
            call.state = C.ABANDONED
            del self.calls[call_id]
            self._emit(CallAbandoned(call_id, q.id, now - call.enqueued_at, now))
            return []
        if call.state is C.OFFERED and call.agent_id is not None:
            seat = self._seat(call.agent_id)
            reopened = self._release_site(q, call.site_id)
            call.state = C.ABANDONED
            del self.calls[call_id]
            self._emit(CallAbandoned(call_id, q.id, now - call.enqueued_at, now, while_ringing=True))
            out = self._to_available(seat, "caller_gone", f"caller of {call_id} hung up while ringing")
            if reopened:
                out += self._rematch_queue(q, now)
            return out
        if call.state is C.CONNECTED:
            return self.call_ended(call_id)
        return []  # a caller who accepted a call-back hangs up: expected

    def call_ended(self, call_id: str) -> list[Action]:
        """The connected call is over: the agent goes to wrap-up."""
        call = self.calls.get(call_id)
        if call is None or call.state is not C.CONNECTED or call.agent_id is None:
            return []
        now = self.clock()
        q = self.queues[call.queue_id]
        seat = self._seat(call.agent_id)
        reopened = self._release_site(q, call.site_id)
        call.state = C.ENDED
        del self.calls[call_id]
        wrap = q.cfg.wrapup
        if q.surge and q.cfg.surge is not None and q.cfg.surge.wrapup is not None:
            wrap = min(wrap, q.cfg.surge.wrapup)
        talk = now - (call.connected_at or now)
        q.handle.add(now, talk + wrap)
        a = seat.agent
        self._emit(CallEnded(call_id, q.id, a.id, a.group_id, a.site_id, talk, wrap, now))
        self._change(seat, "hangup", f"wrap-up after call {call_id}", call_id)
        out: list[Action] = []
        if wrap <= 0:
            out += self._to_available(seat, "wrapup_done", "no wrap-up")
        else:
            seat.wrapup_until = now + wrap
            self._timer(now + wrap, "wrapup", seat)
        if reopened:
            out += self._rematch_queue(q, now)
        return out

    # ================================================================ time
    def advance(self) -> list[Action]:
        """Run what is due: ring widening, wrap-up ends, max-wait exits, mode thresholds, call-backs."""
        now = self.clock()
        out: list[Action] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            due, _, kind, obj = heapq.heappop(timers)
            if kind == "widen":
                call: WaitingCall = obj
                if call.state is C.WAITING and self.calls.get(call.id) is call:
                    q = self.queues[call.queue_id]
                    d = self._match_call(call, q, now)
                    if d is not None:
                        q.lane_by_name[call.priority].remove(call)
                        out.append(d)
                    else:
                        nxt = q.next_widening(call.enqueued_at, now - call.enqueued_at)
                        if nxt is not None:
                            self._timer(nxt, "widen", call)
            elif kind == "wrapup":
                seat: Seat = obj
                if seat.state is S.WRAP_UP and seat.wrapup_until == due:
                    out += self._to_available(seat, "wrapup_done", "wrap-up time over")
            elif kind == "exit":
                call = obj
                if call.state is C.WAITING and self.calls.get(call.id) is call:
                    q = self.queues[call.queue_id]
                    q.lane_by_name[call.priority].remove(call)
                    call.state = C.EXITED
                    del self.calls[call.id]
                    reason = f"waited {now - call.enqueued_at:.0f}s, the queue's limit is {q.cfg.max_wait:.0f}s"
                    self._emit(CallExited(call.id, q.id, q.cfg.exit_destination, reason, now - call.enqueued_at, now))
                    out.append(ExitDecision(call.id, q.id, q.cfg.exit_destination, reason, now))
        for q in self.queues.values():
            out += self._update_modes(q, now)
            if q.callbacks:
                out += self._due_callbacks(q, now)
        return out

    # ================================================================ call-backs
    def accept_callback(self, call_id: str, number: str, callback_id: str | None = None) -> None:
        """The caller took the call-back offer and will hang up; the place in the queue is kept."""
        call = self._call(call_id)
        if call.state is not C.WAITING:
            raise RoutingError(f"call {call_id} is {call.state.value}, not waiting")
        now = self.clock()
        q = self.queues[call.queue_id]
        q.lane_by_name[call.priority].remove(call)
        call.state = C.CALLBACK
        call.caller = number
        call.channel = None
        call.callback_id = callback_id or call_id
        call.dialling = False
        call.next_dial_at = 0.0
        q.callbacks[call_id] = call
        self._emit(CallbackAccepted(call_id, q.id, now - call.enqueued_at, now))

    def add_callback(self, call_id: str, queue_id: str, priority: str | None, number: str, callback_id: str) -> WaitingCall:
        """A call-back asked for outside a queue wait (e.g. after hours): it takes the last place now."""
        if call_id in self.calls:
            raise RoutingError(f"call {call_id} is already routed")
        q = self.queues.get(queue_id)
        if q is None:
            raise RoutingError(f"unknown queue {queue_id!r}")
        lane = q.lane_by_name.get(priority or q.cfg.default_class)
        if lane is None:
            lane = q.lane_by_name[q.cfg.default_class]
        now = self.clock()
        call = WaitingCall(call_id, q.id, lane.name, lane.rank, now, (now, next(self._counter)), number, None)
        call.state = C.CALLBACK
        call.callback_id = callback_id
        self.calls[call_id] = call
        q.callbacks[call_id] = call
        self._emit(CallbackAccepted(call_id, q.id, 0.0, now))
        return call

    def _due_callbacks(self, q: QueueRuntime, now: float) -> list[Action]:
        out: list[Action] = []
        last_ring = len(q.target_afters) - 1
        for call in q.callbacks.values():
            if call.dialling or call.next_dial_at > now:
                continue
            ahead = q.ahead_of(call)
            e = q.ewt_position(ahead + 1, now)
            free_now = ahead == 0 and any(h.top() is not None for h, _ in q.scopes(last_ring))
            if free_now or e <= self.callback_lead:
                call.dialling = True
                why = "an agent is free" if free_now else f"expected wait {_fmt_wait(e)} <= {self.callback_lead:.0f}s"
                reason = f"call-back to the caller of {call.id}: {ahead} ahead, {why}"
                out.append(DialCallback(call.callback_id or call.id, call.id, q.id, call.caller, reason, now))
        return out

    def callback_answered(self, call_id: str, channel: str) -> list[Action]:
        """The citizen picked up the call-back: back in the queue at the kept place."""
        call = self._call(call_id)
        if call.state is not C.CALLBACK:
            raise RoutingError(f"call {call_id} is {call.state.value}, not awaiting a call-back")
        now = self.clock()
        q = self.queues[call.queue_id]
        q.callbacks.pop(call_id, None)
        call.state = C.WAITING
        call.channel = channel
        call.dialling = False
        lane = q.lane_by_name[call.priority]
        lane.push(call)
        d = self._match_call(call, q, now)
        if d is not None:
            lane.remove(call)
            return [d]
        nxt = q.next_widening(call.enqueued_at, now - call.enqueued_at)
        if nxt is not None:
            self._timer(nxt, "widen", call)
        return []

    def callback_failed(self, call_id: str, retry_at: float | None) -> None:
        """The citizen did not pick up: retry later at the same place, or give up (``retry_at`` None)."""
        call = self.calls.get(call_id)
        if call is None or call.state is not C.CALLBACK:
            return
        call.dialling = False
        if retry_at is None:
            self.queues[call.queue_id].callbacks.pop(call_id, None)
            call.state = C.ENDED
            del self.calls[call_id]
        else:
            call.next_dial_at = retry_at

    # ================================================================ restart
    def restore(self, items: Iterable[RestoredCall]) -> list[Action]:
        """Rebuild waiting calls and call-backs after a restart, in their original order."""
        for it in sorted(items, key=lambda r: r.enqueued_at):
            if it.call_id in self.calls:
                continue
            q = self.queues.get(it.queue_id)
            if q is None:
                continue
            lane = q.lane_by_name.get(it.priority)
            if lane is None:
                lane = q.lane_by_name[q.cfg.default_class]
            call = WaitingCall(
                it.call_id, q.id, lane.name, lane.rank, it.enqueued_at,
                (it.enqueued_at, next(self._counter)), it.caller, it.channel,
            )
            call.attempts = it.attempts
            self.calls[call.id] = call
            if it.callback_number is not None:
                call.state = C.CALLBACK
                call.caller = it.callback_number
                call.callback_id = it.callback_id or it.call_id
                call.next_dial_at = it.next_dial_at
                q.callbacks[call.id] = call
            else:
                lane.push(call)
        now = self.clock()
        out: list[Action] = []
        for q in self.queues.values():
            out += self._rematch_queue(q, now)
            for lane in q.lanes:
                for call in list(lane.calls.values()):
                    self._schedule(call, q, now)
        return out

    def restore_connected(self, call_id: str, queue_id: str, agent_id: str, enqueued_at: float, connected_at: float) -> None:
        """A call found bridged with an agent after a restart: the seat is on that call."""
        q = self.queues[queue_id]
        seat = self._seat(agent_id)
        lane = q.lane_by_name[q.cfg.default_class]
        call = WaitingCall(call_id, q.id, lane.name, lane.rank, enqueued_at, (enqueued_at, next(self._counter)))
        call.state = C.CONNECTED
        call.agent_id = agent_id
        call.connected_at = connected_at
        call.site_id = seat.agent.site_id
        q.site_active[call.site_id] = q.site_active.get(call.site_id, 0) + 1
        self.calls[call_id] = call
        self._change(seat, "recover_on_call", "on a call found after restart", call_id)

    # ================================================================ queries
    def position(self, call_id: str) -> int:
        call = self._call(call_id)
        return self.queues[call.queue_id].ahead_of(call) + 1

    def estimate(self, call_id: str) -> WaitEstimate:
        call = self._call(call_id)
        q = self.queues[call.queue_id]
        now = self.clock()
        pos = q.ahead_of(call) + 1
        return WaitEstimate(pos, q.ewt_position(pos, now), q.handle.aht(now), q.staffed)

    def check_invariants(self) -> list[str]:
        """Problems found (empty when consistent): used by tests and by the service's health check."""
        problems: list[str] = []
        now = self.clock()
        holder: dict[str, str] = {}
        for call in self.calls.values():
            if call.state in (C.OFFERED, C.CONNECTED):
                if call.agent_id is None:
                    problems.append(f"call {call.id} {call.state.value} without agent")
                    continue
                if call.agent_id in holder:
                    problems.append(f"agent {call.agent_id} holds {holder[call.agent_id]} and {call.id}")
                holder[call.agent_id] = call.id
                seat = self.seats.by_id[call.agent_id]
                want = S.RINGING if call.state is C.OFFERED else S.ON_CALL
                if seat.state is not want or seat.call_id != call.id:
                    problems.append(f"call {call.id} {call.state.value} but agent {seat.id} is {seat.state.value}")
        for seat in self.seats.by_id.values():
            if seat.state in (S.RINGING, S.ON_CALL):
                c = self.calls.get(seat.call_id or "")
                if c is None or c.agent_id != seat.id:
                    problems.append(f"agent {seat.id} {seat.state.value} for a call it does not hold")
        for q in self.queues.values():
            for lane in q.lanes:
                for call in lane.calls.values():
                    if call.state is not C.WAITING:
                        problems.append(f"call {call.id} in lane but {call.state.value}")
            for seat in self.seats.by_id.values():
                if seat.state is not S.AVAILABLE:
                    continue
                if q.caps and not q.site_open(seat.agent.site_id):
                    continue
                after = q.eligible_after(seat.id)
                for lane in q.lanes:
                    head = lane.head()
                    if head is not None and now - head.enqueued_at >= after:
                        problems.append(f"agent {seat.id} available while call {head.id} waits in {q.id}")
        return problems
