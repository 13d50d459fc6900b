"""RouterService: the asynchronous side of the router.

It implements the IVR's queue port (``ivr.ports.QueuePort``): the IVR puts a
caller in a queue and keeps them in its own hold (AsyncAGI) while the router
decides. Decisions are carried out through the narrow ``AgentConnector``
protocol (the composition root implements it with ``cti.control.CallControl``,
see ``router.connector``):

    Decision -> ring_agent(seat) -> answered -> bridge(caller, agent) -> outcome CONNECTED
                                 -> no answer / busy / failed -> call back at the head,
                                    agent not ready with the reason (engine.ring_failed)
    caller hangs up while the agent rings -> agent leg hung up, agent free again
    caller or agent hangs up after the bridge -> the other leg is hung up, agent in wrap-up
    AMI link lost while the agent rings -> the outcome comes from the PBX's live legs after the
                                 reconnect (see "Link loss" below)

Hang-ups come in as ``leg_hungup(channel)`` (the composition root subscribes it
to ``cti.events.LegHungup`` on the bus). Time-driven work (ring widening,
wrap-up ends, overflow thresholds, call-backs, interval rollups) runs in one
supervised ticker task. After a restart ``recover`` rebuilds the queues from
the PBX's live channels and the database (see ``plan_recovery``).

Link loss. When the AMI link drops while ``ring_agent`` is pending, the
``OriginateResponse`` is lost (call control reports ``timeout`` or
``not_connected``) although the seat may go on ringing and answer on the PBX.
The service follows the link through the CTI core's bus events (``AmiLinkDown``,
``ModelResynced``, ``LegStateChanged``, ``LegHungup``; the composition root
subscribes ``on_bus_event`` to ``BUS_EVENTS``). After each resync it reads the
agent legs the router originated (``HOTLINE_ROLE=agent``, ``HOTLINE_CALL``) from
the call model (``AgentConnector.agent_legs``):

* a ring whose result was lost takes its answer from its seat's leg: answered ->
  bridged with the caller who still waits (or hung up if the caller is gone);
  still ringing -> followed until it answers or hangs up; no leg -> the call goes
  back to the head of its lane and the agent, not at fault, is available again;
* any other agent leg that is not bridged and that no call of the router explains
  (answered after its ring was given up, or left over when a hang-up was lost
  with the link) is hung up. Legs of connected calls (also parked on hold) are
  known to the router and left alone, as are bridged legs.

A ``Bridge`` whose answer was lost (``LinkLostError`` from the connector) is
decided the same way after the resync: the legs bridged -> connected; both
there but apart -> bridged again; the seat's leg gone while the caller waits ->
back to the head of the lane; the caller gone -> the seat's leg is hung up.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Literal, Protocol, Sequence

from router.callbacks import CallbackDesk
from router.engine import Engine, RestoredCall, RoutingError
from router.models import (
    Action,
    AgentState,
    CallState,
    Clock,
    Decision,
    DialCallback,
    ExitDecision,
    RouterEvent,
)
from router.wallboard import IntervalRow, Wallboard

log = logging.getLogger("hotline.router")

C = CallState


# The queue port's types are the IVR's (ivr.ports): one definition for both sides.
from ivr.ports import CallInfo, QueueOutcome, QueueOutcomeKind, QueueRequest  # noqa: E402


# --------------------------------------------------------------------------- connector protocol

RingOutcome = Literal["answered", "no_answer", "busy", "failed"]


@dataclass(frozen=True, slots=True)
class RingResult:
    outcome: RingOutcome
    channel: str = ""  # the answered leg's channel
    uniqueid: str = ""
    detail: str = ""


# ring_agent details (call control's originate outcome) that mean "the result was lost with the AMI link":
# the seat may still ring or have answered on the PBX.
LINK_LOST_OUTCOMES = frozenset({"not_connected", "timeout"})
LINK_LOST = "link_lost"  # RingResult.detail: no leg of the seat was found after the link came back


class LinkLostError(Exception):
    """A call control action whose outcome was lost with the AMI link (it may have been carried out)."""


class AgentConnector(Protocol):
    """What the router needs from call control (implemented with cti.control.CallControl)."""

    async def ring_agent(self, seat: str, call_id: str, caller: str, timeout: float) -> RingResult:
        """Originate ``PJSIP/<seat>`` into ``hotline-agent,connect`` (HOTLINE_CALL=<call_id>); return when it
        is answered or has failed (no answer within ``timeout``, busy, unreachable)."""
        ...

    async def ring_citizen(self, number: str, call_id: str, timeout: float) -> RingResult:
        """Call-back: originate to ``number`` through ``hotline-outbound``; the answered leg waits in
        ``hotline-hold,moh`` until it is bridged to an agent."""
        ...

    async def bridge(self, caller_channel: str, agent_channel: str) -> bool:
        """Bridge the two legs; False when one of them is gone. Raises ``LinkLostError`` when the AMI
        link dropped before the answer came (the PBX may have bridged them)."""
        ...

    async def hangup(self, channel: str) -> None: ...

    async def mark(self, channel: str, queue: str, priority: str, enqueued_at: float, state: str) -> None:
        """Remember the caller's place on the channel itself (channel variables HOTLINE_QUEUE,
        HOTLINE_PRIORITY, HOTLINE_QUEUED_AT, HOTLINE_QSTATE), so a restarted server finds it again.
        ``state``: "waiting", "connected", or "" once the caller has left the queue."""
        ...

    # Optional: ``async def agent_legs(self) -> list[LiveLeg]``, the live agent legs the router
    # originated (HOTLINE_ROLE=agent, with HOTLINE_CALL), with ``leg_id``, ``answered`` and
    # ``bridged_with`` filled in, as the call model knows them. Without it a ring whose result was
    # lost with the AMI link is counted as failed and nothing is swept after a reconnect.


@dataclass(frozen=True, slots=True)
class LiveLeg:
    """A channel found on the PBX at start-up (CoreShowChannels + the variables the router set)."""

    channel: str
    call_id: str  # Linkedid
    kind: Literal["caller", "agent", "other"]
    queue: str = ""  # caller: HOTLINE_QUEUE
    priority: str = ""  # HOTLINE_PRIORITY
    enqueued_at: float = 0.0  # HOTLINE_QUEUED_AT
    state: str = ""  # HOTLINE_QSTATE: waiting / connected / "" (left the queue)
    caller: str = ""
    seat: str = ""  # agent leg: the seat it rings
    for_call: str = ""  # agent leg: HOTLINE_CALL
    bridged_with: str = ""  # channel of the peer when bridged
    leg_id: str = ""  # Uniqueid
    answered: bool = False  # the channel is up


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent's last known state from the database."""

    agent_id: str
    state: AgentState
    reason: str = ""


class StateSink(Protocol):
    """Where router events go to be stored (agent_state_events, interval_stats); must not block."""

    def record(self, event: RouterEvent) -> None: ...

    def intervals(self, rows: Sequence[IntervalRow]) -> None: ...


class NullSink:
    def record(self, event: RouterEvent) -> None:
        pass

    def intervals(self, rows: Sequence[IntervalRow]) -> None:
        pass


# --------------------------------------------------------------------------- the wait handle


class WaitHandle:
    """One caller waiting (ivr.ports.QueueHandle)."""

    def __init__(self, service: "RouterService", call_id: str) -> None:
        self._service = service
        self.call_id = call_id
        self._outcome: asyncio.Future[QueueOutcome] = asyncio.get_running_loop().create_future()

    @property
    def outcome(self) -> "asyncio.Future[QueueOutcome]":
        return self._outcome

    def resolve(self, outcome: QueueOutcome) -> None:
        if not self._outcome.done():
            self._outcome.set_result(outcome)

    def estimated_wait(self) -> float | None:
        eng = self._service.engine
        call = eng.calls.get(self.call_id)
        if call is None or call.state is not C.WAITING:
            return None
        s = eng.estimate(self.call_id).seconds
        return None if math.isinf(s) else s

    def position(self) -> int | None:
        eng = self._service.engine
        call = eng.calls.get(self.call_id)
        return eng.position(self.call_id) if call is not None and call.state is C.WAITING else None

    def offer_callback(self) -> bool:
        """Whether the caller's expected wait is above the queue's call-back threshold."""
        call = self._service.engine.calls.get(self.call_id)
        return call is not None and call.state is C.WAITING and self._service.callbacks.should_offer(self.call_id)

    async def accept_callback(self, number: str) -> None:
        await self._service.accept_callback(self, number)

    async def cancel(self, reason: str) -> None:
        await self._service.leave(self, reason)


# --------------------------------------------------------------------------- the service


@dataclass
class RouterOptions:
    ring_timeout: float = 15.0
    callback_ring_timeout: float = 30.0
    tick: float = 1.0  # longest sleep of the ticker
    retry_after_error: float = 1.0  # pause before re-offering after a call control error
    link_wait: float = 10.0  # a ring whose result was lost: wait this much beyond ring_timeout for the resync
    rona_reasons: dict[str, str] = field(default_factory=lambda: {
        "no_answer": "ring-no-answer", "busy": "seat busy", "failed": "seat unreachable",
    })


@dataclass(eq=False)
class _Ring:
    """An agent leg being rung for a call (one per call at a time)."""

    call_id: str
    agent_id: str
    seat: str
    found: "asyncio.Future[RingResult]"  # the outcome told by the live legs after a link loss
    link_lost: bool = False  # the AMI link dropped while the ring was in flight
    leg_id: str = ""  # the seat's leg, seen ringing after the link came back
    channel: str = ""  # the leg the router goes on with


class RouterService:
    # The cti.events classes ``on_bus_event`` handles (by name: the router does not import the CTI core).
    BUS_EVENT_NAMES = ("LegHungup", "LegStateChanged", "AmiLinkDown", "ModelResynced")

    def __init__(
        self,
        engine: Engine,
        connector: AgentConnector,
        callbacks: CallbackDesk,
        wallboard: Wallboard,
        clock: Clock,
        *,
        sink: StateSink | None = None,
        options: RouterOptions | None = None,
    ) -> None:
        self.engine = engine
        self.connector = connector
        self.callbacks = callbacks
        self.wallboard = wallboard
        self.clock = clock
        self.sink = sink or NullSink()
        self.opt = options or RouterOptions()
        self.handles: dict[str, WaitHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._agent_legs: dict[str, str] = {}  # agent leg channel -> call id
        self._call_agent_leg: dict[str, str] = {}  # call id -> agent leg channel
        self._caller_legs: dict[str, str] = {}  # caller channel -> call id
        self.errors = 0
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._rings: dict[str, _Ring] = {}  # call id -> ring in flight
        self._watched: dict[str, _Ring] = {}  # leg id of a seat still ringing after a link loss -> its ring
        self._ring_tasks: set[asyncio.Task[Any]] = set()  # ring_agent calls whose answer came from the legs
        self._link_down = False
        self._resync_waiters: list[asyncio.Future[None]] = []
        self.link_sweeps = 0  # agent legs hung up after a reconnect because no call explains them

    # called by the engine (wired by make_engine_listener in the composition root)
    def on_event(self, ev: RouterEvent) -> None:
        self.wallboard.on_event(ev)
        self.sink.record(ev)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(), name="router:ticker")

    async def stop(self) -> None:
        t, self._ticker = self._ticker, None
        tasks = list(self._tasks) + list(self._ring_tasks)
        if t is not None:
            t.cancel()
            tasks.append(t)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _tick_loop(self) -> None:
        while True:
            due = self.engine.next_due()
            delay = self.opt.tick if due is None else min(self.opt.tick, max(0.0, due - self.clock()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            try:
                self.tick()
            except Exception:
                self.errors += 1
                log.exception("router tick failed")

    def tick(self) -> None:
        """Run time-driven work now (the ticker calls it; tests call it after moving the clock)."""
        self.carry_out(self.engine.advance())
        rows = self.wallboard.roll()
        if rows:
            self.sink.intervals(rows)

    # ------------------------------------------------------------------ carrying decisions out
    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            log.error("router task %s failed", task.get_name(), exc_info=task.exception())

    def carry_out(self, actions: Iterable[Action]) -> None:
        for a in actions:
            if isinstance(a, Decision):
                log.info("route %s -> %s: %s", a.call_id, a.agent_id, a.reason)
                self._spawn(self._connect(a), f"router:connect:{a.call_id}")
            elif isinstance(a, ExitDecision):
                self._forget_caller(a.call_id)
                h = self.handles.pop(a.call_id, None)
                if h is not None:
                    h.resolve(QueueOutcome(QueueOutcomeKind.OVERFLOW, reason=a.reason))
            elif isinstance(a, DialCallback):
                self._spawn(self._dial_callback(a), f"router:callback:{a.call_id}")

    async def wait_idle(self) -> None:
        """Until every connect / call-back task has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _connect(self, d: Decision) -> None:
        eng = self.engine
        call = eng.calls.get(d.call_id)
        if call is None:
            return
        ring = _Ring(d.call_id, d.agent_id, d.seat, asyncio.get_running_loop().create_future(),
                     link_lost=self._link_down)
        self._rings[d.call_id] = ring
        try:
            res = await self._ring_agent(ring, call.caller)
        except Exception as exc:  # call control down or refusing: retry the call shortly, agent not blamed
            self.errors += 1
            log.warning("ringing %s for %s failed: %s", d.seat, d.call_id, exc)
            await asyncio.sleep(self.opt.retry_after_error)
            call = eng.calls.get(d.call_id)
            if call is not None and call.state is C.OFFERED and call.agent_id == d.agent_id:
                self.carry_out(eng.offer_failed(d.call_id, f"call control error: {type(exc).__name__}"))
            return
        finally:
            self._drop_ring(ring)
        call = eng.calls.get(d.call_id)
        still_ours = call is not None and call.state is C.OFFERED and call.agent_id == d.agent_id
        if res.outcome != "answered":
            if still_ours and res.detail == LINK_LOST:
                # the AMI link was lost and the seat has no leg now: nobody to blame
                self.carry_out(eng.offer_failed(d.call_id, "AMI link lost while the seat was rung"))
            elif still_ours:
                reason = self.opt.rona_reasons.get(res.outcome, res.outcome)
                self.carry_out(eng.ring_failed(d.call_id, reason))
            return
        if not still_ours or call is None or not call.channel:
            # the caller hung up while the agent's phone rang: the engine has freed the agent already
            await self.connector.hangup(res.channel)
            return
        self._agent_legs[res.channel] = d.call_id
        self._call_agent_leg[d.call_id] = res.channel
        try:
            ok: bool | None = await self.connector.bridge(call.channel, res.channel)
        except LinkLostError as exc:
            log.warning("bridge for %s: %s; the live legs will tell", d.call_id, exc)
            ok = await self._bridge_after_link_loss(d.call_id, call.channel, res.channel)
        except Exception as exc:
            log.warning("bridge for %s failed: %s", d.call_id, exc)
            ok = False
        call = eng.calls.get(d.call_id)
        if ok is None and call is not None and call.state is C.OFFERED and call.agent_id == d.agent_id:
            # the seat's leg is gone but the caller still waits: back to the head of the lane
            self._agent_legs.pop(res.channel, None)
            self._call_agent_leg.pop(d.call_id, None)
            await self.connector.hangup(res.channel)
            self.carry_out(eng.offer_failed(d.call_id, "seat's leg lost with the AMI link before the bridge"))
            return
        if not ok or call is None or call.state is not C.OFFERED:
            # the caller left while being connected
            self._agent_legs.pop(res.channel, None)
            self._call_agent_leg.pop(d.call_id, None)
            await self.connector.hangup(res.channel)
            if call is not None and call.state is C.OFFERED:
                self._finish_caller(d.call_id, QueueOutcomeKind.HANGUP, "caller hung up while being connected")
                self.carry_out(eng.abandon(d.call_id))
            return
        eng.connected(d.call_id)
        self._spawn(self.connector.mark(call.channel, call.queue_id, call.priority, call.enqueued_at, "connected"),
                    f"router:mark:{d.call_id}")
        h = self.handles.pop(d.call_id, None)
        if h is not None:
            h.resolve(QueueOutcome(QueueOutcomeKind.CONNECTED, agent=d.seat, reason=d.reason))

    async def _ring_agent(self, ring: _Ring, caller: str) -> RingResult:
        """``ring_agent``, unless the AMI link drops meanwhile: then the PBX's live legs tell the outcome
        (the seat's leg answered, still ringing, or gone) once the link is back and the model resynced."""
        task = asyncio.ensure_future(
            self.connector.ring_agent(ring.seat, ring.call_id, caller, self.opt.ring_timeout))
        try:
            await asyncio.wait((task, ring.found), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if ring.found.done():
            if not task.done():  # the originate's own result may still come: a leg it names is not ours
                self._ring_tasks.add(task)
                task.add_done_callback(lambda t: self._late_ring(t, ring))
            else:
                self._late_ring(task, ring)
            return ring.found.result()
        res = task.result()  # raises what ring_agent raised
        if res.outcome == "answered" or res.detail not in LINK_LOST_OUTCOMES:
            return res
        # The result was lost with the AMI link: the seat may still ring or have answered on the PBX.
        ring.link_lost = True
        if not self._link_down and res.detail == "timeout":
            self._settle(ring, await self._live_agent_legs())  # no link loss seen: the model is current
        try:
            return await asyncio.wait_for(asyncio.shield(ring.found),
                                          self.opt.ring_timeout + self.opt.link_wait)
        except asyncio.TimeoutError:
            # no resync came in time: decide on what is known now (no leg while the link is down:
            # the call goes back to its lane; a leg that turns up later is swept at the next resync)
            self._settle(ring, [] if self._link_down else await self._live_agent_legs(), final=True)
            return ring.found.result()

    async def _bridge_after_link_loss(self, call_id: str, caller_channel: str, agent_channel: str) -> bool | None:
        """The Bridge's answer was lost with the AMI link: after the resync, the agent leg bridged with
        the caller -> True; the agent leg up and alone while the caller still waits -> bridged again;
        the agent leg gone while the caller waits -> None; otherwise False (the caller left)."""
        await self._next_resync(self.opt.ring_timeout + self.opt.link_wait)
        legs = await self._live_agent_legs()
        mine = next((leg for leg in legs if leg.channel == agent_channel), None)
        call = self.engine.calls.get(call_id)
        waiting = call is not None and call.state is C.OFFERED
        if mine is None:
            return None if waiting else False
        if mine.bridged_with == caller_channel:
            return True
        if mine.bridged_with or not waiting:
            return False
        try:
            return await self.connector.bridge(caller_channel, agent_channel)
        except Exception as exc:
            log.warning("bridge for %s failed again: %s", call_id, exc)
            return False

    async def _next_resync(self, timeout: float) -> bool:
        """Until the next ModelResynced (True) or ``timeout`` (False)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._resync_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if fut in self._resync_waiters:
                self._resync_waiters.remove(fut)

    def _late_ring(self, task: "asyncio.Task[RingResult]", ring: _Ring) -> None:
        """The originate's own result after the live legs answered for it: hang up a leg it names
        that the router did not go on with."""
        self._ring_tasks.discard(task)
        if task.cancelled() or task.exception() is not None:
            return
        res = task.result()
        if res.outcome == "answered" and res.channel and res.channel != ring.channel \
                and res.channel not in self._agent_legs:
            self._spawn(self.connector.hangup(res.channel), f"router:hangup:{ring.call_id}")

    def _drop_ring(self, ring: _Ring) -> None:
        if self._rings.get(ring.call_id) is ring:
            del self._rings[ring.call_id]
        if ring.leg_id and self._watched.get(ring.leg_id) is ring:
            del self._watched[ring.leg_id]
        if not ring.found.done():
            ring.found.cancel()

    def _resolve(self, ring: _Ring, res: RingResult) -> None:
        if ring.leg_id and self._watched.get(ring.leg_id) is ring:
            del self._watched[ring.leg_id]
        if not ring.found.done():
            ring.channel = res.channel
            ring.found.set_result(res)

    def _settle(self, ring: _Ring, legs: Sequence[LiveLeg], final: bool = False) -> set[str]:
        """Decide a ring whose result was lost, from the live agent legs; returns the channels it claims."""
        if ring.found.done():
            return {ring.channel} if ring.channel else set()
        mine = [leg for leg in legs if leg.for_call == ring.call_id and leg.seat == ring.seat
                and not leg.bridged_with and leg.channel not in self._agent_legs]
        up = [leg for leg in mine if leg.answered]
        if up:
            leg = up[0]
            log.info("ring of %s for %s: answered on %s (result lost with the AMI link)",
                     ring.seat, ring.call_id, leg.channel)
            self._resolve(ring, RingResult("answered", leg.channel, leg.leg_id, "answered"))
            return {leg.channel}
        if mine and mine[0].leg_id and not final:
            leg = mine[0]
            if ring.leg_id and ring.leg_id != leg.leg_id:
                self._watched.pop(ring.leg_id, None)
            ring.leg_id = leg.leg_id
            self._watched[leg.leg_id] = ring
            log.info("ring of %s for %s: still ringing on %s after the AMI link came back",
                     ring.seat, ring.call_id, leg.channel)
            return {leg.channel}
        for leg in mine:  # given up while it still rings: it must not be answered for nobody
            self._spawn(self.connector.hangup(leg.channel), f"router:hangup:{ring.call_id}")
        log.info("ring of %s for %s: no answered leg on the PBX after the AMI link was lost",
                 ring.seat, ring.call_id)
        self._resolve(ring, RingResult("failed", "", "", LINK_LOST))
        return set()

    async def _live_agent_legs(self) -> list[LiveLeg]:
        lister = getattr(self.connector, "agent_legs", None)
        if lister is None:
            return []
        try:
            return list(await lister())
        except Exception as exc:
            log.warning("reading the live agent legs failed: %s", exc)
            return []

    # ------------------------------------------------------------------ the AMI link
    def link_down(self) -> None:
        """The AMI link dropped (cti.events.AmiLinkDown): results of rings in flight may be lost."""
        self._link_down = True
        for ring in self._rings.values():
            ring.link_lost = True

    async def link_resynced(self, ok: bool = True) -> int:
        """The link is back and the call model resynced (cti.events.ModelResynced): rings whose result
        was lost take it from the live legs; agent legs no call explains are hung up. Returns how many
        legs were hung up. ``ok`` False: the model could not be reconciled, the next resync decides."""
        if not ok:
            return 0
        self._link_down = False
        legs = await self._live_agent_legs()
        for fut in self._resync_waiters:
            if not fut.done():
                fut.set_result(None)
        self._resync_waiters.clear()
        claimed: set[str] = set()
        for ring in list(self._rings.values()):
            if ring.link_lost:
                claimed |= self._settle(ring, legs)
        swept = 0
        for leg in legs:
            if leg.channel in claimed or leg.channel in self._agent_legs or leg.bridged_with:
                continue
            ring = self._rings.get(leg.for_call)
            if ring is not None and ring.seat == leg.seat:
                continue  # rung right now (its result is still to come)
            log.warning("agent leg %s of call %s (seat %s) is not bridged and no call of the router explains "
                        "it: hung up", leg.channel, leg.for_call, leg.seat)
            swept += 1
            await self.connector.hangup(leg.channel)
        self.link_sweeps += swept
        return swept

    def _leg_state(self, leg_id: str, channel: str, state: str) -> None:
        ring = self._watched.get(leg_id)
        if ring is not None and state == "up":
            log.info("ring of %s for %s: answered on %s", ring.seat, ring.call_id, channel)
            self._resolve(ring, RingResult("answered", channel, leg_id, "answered"))

    async def _dial_callback(self, a: DialCallback) -> None:
        await self.callbacks.dialling(a.call_id)
        res = await self.connector.ring_citizen(a.number, a.call_id, self.opt.callback_ring_timeout)
        if res.outcome == "answered" and res.channel:
            self._caller_legs[res.channel] = a.call_id
            call = self.engine.calls.get(a.call_id)
            if call is not None:
                self._spawn(self.connector.mark(res.channel, call.queue_id, call.priority, call.enqueued_at, "waiting"),
                            f"router:mark:{a.call_id}")
        self.carry_out(await self.callbacks.result(a.call_id, res.outcome, res.channel or None))

    # ------------------------------------------------------------------ the queue port
    def queue_for(self, skill: str) -> str:
        for q in self.engine.queues.values():
            if q.id == skill:
                return q.id
        for q in self.engine.queues.values():
            if q.cfg.skill == skill:
                return q.id
        raise RoutingError(f"no queue serves skill {skill!r}")

    def lane_for(self, queue_id: str, priority: int | str | None) -> str:
        q = self.engine.queues[queue_id]
        if priority is None:
            return q.cfg.default_class
        if isinstance(priority, str):
            return priority if priority in q.lane_by_name else q.cfg.default_class
        # the lane whose rank is nearest the IVR's priority; a tie goes to the more urgent lane
        # (enterprise 0 / repeat 3 / normal 5: priority 1 is the enterprise lane, 4 the repeat lane)
        return min(q.lanes, key=lambda lane: (abs(lane.rank - priority), lane.rank)).name

    async def enqueue(self, request: QueueRequest) -> WaitHandle:
        call = request.call
        queue_id = self.queue_for(request.skill)
        lane = self.lane_for(queue_id, request.priority)
        existing = self.handles.get(call.call_id)
        if existing is not None and not existing.outcome.done():
            return existing
        wc, actions = self.engine.enqueue(call.call_id, queue_id, lane, caller=call.caller, channel=call.channel)
        h = WaitHandle(self, call.call_id)
        self.handles[call.call_id] = h
        self._caller_legs[call.channel] = call.call_id
        self._spawn(self.connector.mark(call.channel, queue_id, lane, wc.enqueued_at, "waiting"),
                    f"router:mark:{call.call_id}")
        self.carry_out(actions)
        self._wake.set()
        return h

    async def request_callback(self, call: CallInfo, skill: str, number: str, note: str = "") -> str:
        """A call-back requested outside a queue wait: it takes the last place of the queue now."""
        queue_id = self.queue_for(skill)
        cb = await self.callbacks.request(call.call_id, queue_id, None, number)
        self._wake.set()
        return cb.id

    async def accept_callback(self, h: WaitHandle, number: str) -> None:
        call = self.engine.calls.get(h.call_id)
        if call is None or call.state is not C.WAITING:
            return
        channel = call.channel
        cb = await self.callbacks.accept(h.call_id, number)  # stored before the caller is released
        if channel:
            self._caller_legs.pop(channel, None)
            self._spawn(self.connector.mark(channel, "", "", 0.0, ""), f"router:mark:{h.call_id}")
        self.handles.pop(h.call_id, None)
        h.resolve(QueueOutcome(QueueOutcomeKind.CALLBACK, reason="call-back accepted", callback_id=cb.id))

    async def leave(self, h: WaitHandle, reason: str) -> None:
        """The IVR stops waiting: the caller hung up, or its own max wait passed (overflow)."""
        call = self.engine.calls.get(h.call_id)
        kind = QueueOutcomeKind.OVERFLOW if "max_wait" in reason else QueueOutcomeKind.HANGUP
        if call is not None and call.state in (C.WAITING, C.OFFERED):
            self._forget_caller(h.call_id)
            self.carry_out(self.engine.abandon(h.call_id))
            leg = self._call_agent_leg.pop(h.call_id, None)
            if leg:
                self._agent_legs.pop(leg, None)
                await self.connector.hangup(leg)
        self.handles.pop(h.call_id, None)
        h.resolve(QueueOutcome(kind, reason=reason))

    def _forget_caller(self, call_id: str) -> None:
        call = self.engine.calls.get(call_id)
        if call is not None and call.channel:
            self._caller_legs.pop(call.channel, None)

    def _finish_caller(self, call_id: str, kind: QueueOutcomeKind, reason: str) -> None:
        h = self.handles.pop(call_id, None)
        if h is not None:
            h.resolve(QueueOutcome(kind, reason=reason))

    # ------------------------------------------------------------------ hang-ups from the CTI core
    async def leg_hungup(self, channel: str) -> None:
        """A channel hung up (cti.events.LegHungup): caller leg or agent leg of a routed call."""
        eng = self.engine
        call_id = self._caller_legs.pop(channel, None)
        if call_id is not None:
            call = eng.calls.get(call_id)
            if call is None:
                return
            if call.state in (C.WAITING, C.OFFERED):
                self._finish_caller(call_id, QueueOutcomeKind.HANGUP, "caller hung up")
                leg = self._call_agent_leg.pop(call_id, None)
                self.carry_out(eng.abandon(call_id))
                if leg:  # the agent had answered and was being connected
                    self._agent_legs.pop(leg, None)
                    await self.connector.hangup(leg)
            elif call.state is C.CONNECTED:
                leg = self._call_agent_leg.pop(call_id, None)
                self.carry_out(eng.call_ended(call_id))
                if leg:
                    self._agent_legs.pop(leg, None)
                    await self.connector.hangup(leg)
            return
        call_id = self._agent_legs.pop(channel, None)
        if call_id is not None:
            self._call_agent_leg.pop(call_id, None)
            call = eng.calls.get(call_id)
            if call is not None and call.state is C.CONNECTED:
                # the agent hung up: the caller goes on in the dialplan (e.g. the survey)
                if call.channel:
                    self._caller_legs.pop(call.channel, None)
                self.carry_out(eng.call_ended(call_id))

    async def on_bus_event(self, ev: Any) -> None:
        """Bus subscriber for cti.events (``BUS_EVENT_NAMES``): LegHungup -> leg_hungup; the link's
        events and leg states for rings whose result was lost with the link."""
        kind = type(ev).__name__
        if kind == "LegHungup":
            ring = self._watched.get(ev.leg_id)
            if ring is not None:  # the seat stopped ringing without answering
                self._resolve(ring, RingResult("no_answer", "", ev.leg_id, "hung up"))
            await self.leg_hungup(ev.channel)
        elif kind == "LegStateChanged":
            self._leg_state(ev.leg_id, ev.channel, ev.new_state)
        elif kind == "AmiLinkDown":
            self.link_down()
        elif kind == "ModelResynced":
            await self.link_resynced(not any(e.startswith("CoreShowChannels") for e in ev.errors))

    # ------------------------------------------------------------------ agents (API)
    def login(self, agent_id: str, paused_reason: str | None = None) -> None:
        self.carry_out(self.engine.login(agent_id, paused_reason))

    def logout(self, agent_id: str) -> None:
        self.carry_out(self.engine.logout(agent_id))

    def pause(self, agent_id: str, reason: str) -> None:
        self.carry_out(self.engine.pause(agent_id, reason))

    def unpause(self, agent_id: str) -> None:
        self.carry_out(self.engine.unpause(agent_id))

    def ready(self, agent_id: str) -> None:
        self.carry_out(self.engine.ready(agent_id))

    # ------------------------------------------------------------------ restart
    async def recover(self, legs: Sequence[LiveLeg], agents: Sequence[AgentRecord]) -> "RecoveryReport":
        """Rebuild after a restart from the PBX's live channels and the database.

        * agent legs bridged with a caller: the agent is on that call;
        * agent legs not bridged (ringing or waiting to be bridged): hung up; their caller is
          still waiting on its own leg and goes back to its place;
        * caller legs marked with a queue and not bridged: waiting again at their original place;
        * open call-backs from the database keep their places;
        * agents: logged in / paused as the database says; nobody is left ringing or on a call
          that no longer exists.
        """
        plan = plan_recovery(self.engine, legs, agents)
        for ch in plan.hang_up:
            await self.connector.hangup(ch)
        for aid, reason in plan.logins:
            self.engine.login(aid, reason)  # decisions come after the queues are rebuilt
        for call_id, queue_id, agent_id, enq, leg, caller_leg in plan.connected:
            self.engine.restore_connected(call_id, queue_id, agent_id, enq, self.clock())
            self._agent_legs[leg] = call_id
            self._call_agent_leg[call_id] = leg
            self._caller_legs[caller_leg] = call_id
        items = list(plan.waiting) + await self.callbacks.restore_items()
        for it in plan.waiting:
            if it.channel:
                self._caller_legs[it.channel] = it.call_id
        actions = self.engine.restore(items)
        self.carry_out(actions)
        return RecoveryReport(len(plan.waiting), len(items) - len(plan.waiting), len(plan.connected),
                              len(plan.hang_up), len(plan.logins))

    def attach_handle(self, call_id: str) -> WaitHandle | None:
        """The IVR re-attaching to a caller found waiting after a restart."""
        if call_id not in self.engine.calls:
            return None
        h = self.handles.get(call_id)
        if h is None:
            h = self.handles[call_id] = WaitHandle(self, call_id)
        return h


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    waiting: int
    callbacks: int
    connected: int
    legs_hung_up: int
    agents: int


@dataclass
class RecoveryPlan:
    hang_up: list[str] = field(default_factory=list)
    logins: list[tuple[str, str | None]] = field(default_factory=list)
    connected: list[tuple[str, str, str, float, str, str]] = field(default_factory=list)
    waiting: list[RestoredCall] = field(default_factory=list)


def plan_recovery(engine: Engine, legs: Sequence[LiveLeg], agents: Sequence[AgentRecord]) -> RecoveryPlan:
    """Pure: what to do with each live leg and agent after a restart."""
    plan = RecoveryPlan()
    by_channel = {leg.channel: leg for leg in legs}
    seat_agent = {s.agent.seat: s.agent.id for s in engine.seats.by_id.values()}
    on_call: set[str] = set()
    bridged_callers: set[str] = set()
    for leg in legs:
        if leg.kind != "agent":
            continue
        peer = by_channel.get(leg.bridged_with) if leg.bridged_with else None
        aid = seat_agent.get(leg.seat)
        if peer is not None and aid is not None and peer.queue and peer.state in ("waiting", "connected"):
            plan.connected.append((leg.for_call or peer.call_id, peer.queue, aid, peer.enqueued_at, leg.channel,
                                   peer.channel))
            on_call.add(aid)
            bridged_callers.add(peer.channel)
        elif peer is None:
            plan.hang_up.append(leg.channel)  # ringing or waiting in hotline-agent,connect
    for leg in legs:
        if (leg.kind == "caller" and leg.queue and leg.state == "waiting" and not leg.bridged_with
                and leg.channel not in bridged_callers):
            if leg.queue in engine.queues:
                plan.waiting.append(RestoredCall(leg.call_id, leg.queue, leg.priority, leg.enqueued_at,
                                                 caller=leg.caller, channel=leg.channel))
    for rec in agents:
        if rec.agent_id not in engine.seats.by_id or rec.state is AgentState.LOGGED_OUT:
            continue
        paused = rec.reason or "paused" if rec.state is AgentState.PAUSED else None
        # ringing / on a call / wrap-up before the restart and not on a live call now: available
        plan.logins.append((rec.agent_id, paused))
    return plan
