"""Three-way calls on ConfBridge: an explicit state machine in which every state handles any hang-up.

The agent brings a third party (a department expert, a legacy hotline seat) into
the call with the caller:

1. ``Redirect`` of caller + agent (``ExtraChannel``) into ``hotline-conference,conf-<room>``
   (``ConfBridge(<room>)``); both leave their bridge and join the room.
2. ``Originate`` of the guest as ``Local/<exten>@<context>`` into the same room, with
   ``HOTLINE_CALL`` (a leg of the same call) and our own ChannelId.
3. Three parties talk; the agent may leave (``ConfbridgeKick``: the other two stay
   connected) or stay. Mute / unmute / kick / list work in every live state.

States::

    Ready --start()--> Inviting --guest_answered--> Conferenced --agent_leave()/agent_hangup--> TwoParty
      Inviting: guest fails/hangs up -> Reverted (caller back in a plain bridge with the agent)
                agent hangs up       -> CallerWaiting (caller waits in the room for the guest)
                caller hangs up      -> Ended (guest dropped, agent kicked out of the room)
                cancel()             -> Cancelled (guest dropped, caller back with the agent)
      Conferenced: guest hangs up -> Reverted; caller hangs up -> AgentWithGuest; end() -> Reverted
      TwoParty (caller + guest): either hangs up -> Ended (a caller left alone goes to the IVR)
      AgentWithGuest (caller gone): either hangs up -> Ended (the other is kicked)
      CallerWaiting: guest answers -> TwoParty; guest fails -> Failed (caller to the IVR)

As with transfers, a failure never drops the caller: it goes back to the agent
(``Bridge``) or, without one, to the IVR (``hotline-ivr,<dnis>``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from datetime import datetime
from typing import Any, Awaitable, Callable, ClassVar

from cti.control import CallControl, ConferenceMember, ControlError
from cti.events import LegHungup, TransferStateChanged
from cti.model import CallModel, Publisher, NullPublisher, utcnow
from cti.transfer import InvalidTransfer, transition

log = logging.getLogger("cti.conference")

Next = "type[ConferenceState] | None"


class ConferenceState:
    name: ClassVar[str] = "?"
    terminal: ClassVar[bool] = False

    async def start(self, m: "ThreeWayCall") -> None:
        log.info("conference %s: start ignored in %s", m.conf_id, self.name)

    async def guest_answered(self, m: "ThreeWayCall") -> None:
        return None

    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> None:
        return None

    async def caller_hangup(self, m: "ThreeWayCall") -> None:
        return None

    async def agent_hangup(self, m: "ThreeWayCall") -> None:
        return None

    async def agent_leave(self, m: "ThreeWayCall") -> None:
        raise InvalidTransfer(f"the agent cannot leave in state {self.name}")

    async def end(self, m: "ThreeWayCall") -> None:
        raise InvalidTransfer(f"cannot end the three-way call in state {self.name}")

    async def cancel(self, m: "ThreeWayCall") -> None:
        raise InvalidTransfer(f"cannot cancel in state {self.name}")


class Ready(ConferenceState):
    name = "ready"

    @transition("start")
    async def start(self, m: "ThreeWayCall") -> Next:
        try:
            await m.control.redirect(
                m.caller, m.control.config.conference_context, m.room_exten, 1, extra_channel=m.agent
            )
        except ControlError as e:
            m.reason = f"could not move caller and agent into the room: {e.message}"
            await m.give_back()
            return Failed
        try:
            pending = await m.control.start_originate(
                f"Local/{m.guest_exten}@{m.guest_context}",
                context=m.control.config.conference_context,
                exten=m.room_exten,
                call_id=m.call_id,
                role="conference",
                channel_id=m.guest_id,
                other_channel_id=f"{m.guest_id}-2",
                ring_timeout=m.ring_timeout,
            )
        except ControlError as e:
            m.reason = f"could not call the third party: {e.message}"
            await m.give_back()
            return Reverted
        m.watch(m.await_guest(pending))
        return Inviting

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        return Ended

    @transition("agent_hangup")
    async def agent_hangup(self, m: "ThreeWayCall") -> Next:
        return Ended


class Inviting(ConferenceState):
    """Caller and agent are in the room; the guest is ringing."""

    name = "inviting"

    @transition("guest_answered")
    async def guest_answered(self, m: "ThreeWayCall") -> Next:
        return Conferenced

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        m.reason = f"third party did not join ({reason})"
        await m.give_back()
        return Reverted

    @transition("agent_hangup")
    async def agent_hangup(self, m: "ThreeWayCall") -> Next:
        return CallerWaiting

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.kick(m.agent_id)
        return Ended

    @transition("cancel")
    async def cancel(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.give_back()
        return Cancelled


class Conferenced(ConferenceState):
    name = "conferenced"

    @transition("agent_leave")
    async def agent_leave(self, m: "ThreeWayCall") -> Next:
        await m.kick(m.agent_id)
        return TwoParty

    @transition("agent_hangup")
    async def agent_hangup(self, m: "ThreeWayCall") -> Next:
        return TwoParty

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        m.reason = f"third party left ({reason})"
        await m.give_back()
        return Reverted

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        return AgentWithGuest

    @transition("end")
    async def end(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.give_back()
        return Reverted


class CallerWaiting(ConferenceState):
    """The agent hung up while the guest was ringing: the caller waits in the room."""

    name = "caller_waiting"

    @transition("guest_answered")
    async def guest_answered(self, m: "ThreeWayCall") -> Next:
        return TwoParty

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        m.reason = f"third party did not join ({reason}) and the agent had left"
        await m.give_back()
        return Failed

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        return Ended

    @transition("cancel")
    async def cancel(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.give_back()
        return Cancelled


class TwoParty(ConferenceState):
    """The agent left; caller and guest stay connected in the room."""

    name = "two_party"

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        await m.give_back()  # the agent is gone: the caller goes to the IVR
        return Ended

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        return Ended

    async def agent_leave(self, m: "ThreeWayCall") -> None:
        return None


class AgentWithGuest(ConferenceState):
    """The caller hung up; agent and guest may finish talking."""

    name = "agent_with_guest"

    @transition("agent_hangup")
    async def agent_hangup(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        return Ended

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        await m.kick(m.agent_id)
        return Ended

    @transition("agent_leave")
    async def agent_leave(self, m: "ThreeWayCall") -> Next:
        await m.kick(m.agent_id)
        await m.drop_guest()
        return Ended

    @transition("end")
    async def end(self, m: "ThreeWayCall") -> Next:
        await m.kick(m.agent_id)
        await m.drop_guest()
        return Ended


class _Terminal(ConferenceState):
    terminal = True


class Ended(_Terminal):
    name = "ended"


class Reverted(_Terminal):
    """Back to a two-party call between caller and agent (or the caller in the IVR)."""

    name = "reverted"


class Cancelled(_Terminal):
    name = "cancelled"


class Failed(_Terminal):
    name = "failed"


STATES = (Ready, Inviting, Conferenced, CallerWaiting, TwoParty, AgentWithGuest, Ended, Reverted, Cancelled, Failed)


class ThreeWayCall:
    def __init__(
        self,
        conf_id: str,
        control: CallControl,
        model: CallModel,
        bus: Publisher,
        *,
        room: str,
        call_id: str,
        caller: str,
        caller_id: str,
        agent: str,
        agent_id: str,
        guest_context: str,
        guest_exten: str,
        ivr_context: str,
        ivr_exten: str,
        ring_timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.conf_id = conf_id
        self.control = control
        self.model = model
        self.bus = bus
        self.room = room
        self.room_exten = f"conf-{room}"
        self.call_id = call_id
        self.caller = caller
        self.caller_id = caller_id
        self.agent = agent
        self.agent_id = agent_id
        self.guest_context = guest_context
        self.guest_exten = guest_exten
        self.guest_id = f"{conf_id}-g"
        self.guest = ""
        self.ivr_context = ivr_context
        self.ivr_exten = ivr_exten
        self.ring_timeout = ring_timeout
        self.reason = ""
        self.returned_to = ""
        self.state: ConferenceState = Ready()
        self.history: list[tuple[str, str, str]] = []
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.finished = asyncio.Event()

    # --- plumbing ---------------------------------------------------
    def now(self) -> datetime:
        return self._clock()

    def publish(self, event: object) -> None:
        self.bus.publish(event)

    def alive(self, uid: str) -> bool:
        return bool(uid) and self.model.channel(uid) is not None

    def watch(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _enter(self, nxt: type[ConferenceState], event: str) -> None:
        old = self.state.name
        self.state = nxt()
        self.history.append((old, nxt.name, event))
        log.info("three-way %s (call %s, room %s): %s --%s--> %s", self.conf_id, self.call_id, self.room, old, event, nxt.name)
        self.publish(TransferStateChanged(self.call_id, self.now(), "conference", self.conf_id, old, nxt.name, event))
        if self.state.terminal:
            self.finished.set()
            for t in list(self._tasks):
                if t is not asyncio.current_task():
                    t.cancel()

    async def _dispatch(self, event: str, *args: Any) -> None:
        async with self._lock:
            await getattr(self.state, event)(self, *args)

    @property
    def done(self) -> bool:
        return self.state.terminal

    async def await_guest(self, pending: Any) -> None:
        res = await pending.result()
        if res.success:
            self.guest = res.channel
            if res.uniqueid and res.uniqueid != self.guest_id and not self.alive(self.guest_id):
                self.guest_id = res.uniqueid  # the PBX did not take our ChannelId
            await self.guest_answered()
        else:
            await self.guest_hangup(res.outcome)

    async def wait(self, timeout: float | None = None) -> str:
        await asyncio.wait_for(self.finished.wait(), timeout)
        return self.state.name

    # --- events -------------------------------------------------------
    async def start(self) -> None:
        await self._dispatch("start")

    async def guest_answered(self) -> None:
        await self._dispatch("guest_answered")

    async def guest_hangup(self, reason: str = "hung up") -> None:
        await self._dispatch("guest_hangup", reason)

    async def caller_hangup(self) -> None:
        await self._dispatch("caller_hangup")

    async def agent_hangup(self) -> None:
        await self._dispatch("agent_hangup")

    async def agent_leave(self) -> None:
        await self._dispatch("agent_leave")

    async def end(self) -> None:
        await self._dispatch("end")

    async def cancel(self) -> None:
        await self._dispatch("cancel")

    async def on_event(self, event: object) -> None:
        if self.done or not isinstance(event, LegHungup):
            return
        if event.leg_id == self.caller_id:
            await self.caller_hangup()
        elif event.leg_id == self.agent_id:
            await self.agent_hangup()
        elif event.leg_id == self.guest_id:
            await self.guest_hangup(event.cause_txt or "hung up")

    # --- room operations (any live state) ---------------------------------
    def _name(self, uid: str) -> str:
        ch = self.model.channel(uid)
        if ch is not None:
            return ch.name
        if uid == self.caller_id:
            return self.caller
        if uid == self.agent_id:
            return self.agent
        return self.guest or uid

    async def mute(self, party: str) -> None:
        await self.control.conference_mute(self.room, self._name(self._party(party)))

    async def unmute(self, party: str) -> None:
        await self.control.conference_unmute(self.room, self._name(self._party(party)))

    async def members(self) -> list[ConferenceMember]:
        return await self.control.conference_list(self.room)

    def _party(self, party: str) -> str:
        return {"caller": self.caller_id, "agent": self.agent_id, "guest": self.guest_id}.get(party, party)

    async def kick(self, uid: str) -> None:
        if not self.alive(uid):
            return
        try:
            await self.control.conference_kick(self.room, self._name(uid))
        except ControlError as e:
            log.info("three-way %s: kick failed (%s); hanging up instead", self.conf_id, e.message)
            try:
                await self.control.hangup(self._name(uid), 16)
            except ControlError:
                pass

    async def drop_guest(self) -> None:
        if self.alive(self.guest_id):
            try:
                await self.control.hangup(self._name(self.guest_id), 16)
            except ControlError:
                pass

    async def give_back(self) -> str:
        """Caller back to the agent (plain bridge), else to the IVR; never dropped."""
        if not self.alive(self.caller_id):
            self.returned_to = ""
            return ""
        if self.alive(self.agent_id):
            try:
                await self.control.bridge(self._name(self.agent_id), self._name(self.caller_id))
                self.returned_to = "agent"
                return "agent"
            except ControlError as e:
                log.warning("three-way %s: could not bridge caller and agent again (%s)", self.conf_id, e.message)
        try:
            await self.control.redirect(self._name(self.caller_id), self.ivr_context, self.ivr_exten, 1)
            self.returned_to = "ivr"
            return "ivr"
        except ControlError as e:
            log.error("three-way %s: could not send the caller to the IVR (%s)", self.conf_id, e.message)
            self.returned_to = ""
            return ""


class ConferenceService:
    """Starts three-way calls and routes LegHungup events to them (subscribe :meth:`on_event`)."""

    EVENTS = (LegHungup,)

    def __init__(
        self,
        control: CallControl,
        model: CallModel,
        bus: Publisher | None = None,
        *,
        ivr_context: str = "hotline-ivr",
        default_ivr_exten: str = "12345",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.control = control
        self.model = model
        self.bus = bus or NullPublisher()
        self.ivr_context = ivr_context
        self.default_ivr_exten = default_ivr_exten
        self._clock = clock
        self.active: dict[str, ThreeWayCall] = {}
        self._ids = itertools.count(1)
        self._prefix = f"conf{secrets.token_hex(3)}"

    async def start_three_way(
        self,
        agent: str,
        guest_exten: str,
        *,
        guest_context: str = "hotline-outbound",
        caller: str | None = None,
        room: str | None = None,
        ring_timeout: float = 30.0,
    ) -> ThreeWayCall:
        ag = self.model.resolve(agent)
        if ag is None:
            raise InvalidTransfer(f"unknown agent channel {agent}")
        if caller is None:
            peers = self.model.peers(ag.uniqueid)
            if len(peers) != 1:
                raise InvalidTransfer(f"agent {ag.name} is not in a two-party call")
            cl = peers[0]
        else:
            cl = self.model.resolve(caller)
            if cl is None:
                raise InvalidTransfer(f"unknown caller channel {caller}")
        call = self.model.calls.get(cl.call_id)
        dnis = call.dnis if call is not None and call.dnis else self.default_ivr_exten
        cid = f"{self._prefix}-{next(self._ids)}"
        m = ThreeWayCall(
            cid,
            self.control,
            self.model,
            self.bus,
            room=room or cid,
            call_id=cl.call_id,
            caller=cl.name,
            caller_id=cl.uniqueid,
            agent=ag.name,
            agent_id=ag.uniqueid,
            guest_context=guest_context,
            guest_exten=guest_exten,
            ivr_context=self.ivr_context,
            ivr_exten=dnis,
            ring_timeout=ring_timeout,
            clock=self._clock,
        )
        self.active[cid] = m
        await m.start()
        if m.done:
            self.active.pop(cid, None)
        return m

    async def on_event(self, event: object) -> None:
        for cid, m in list(self.active.items()):
            await m.on_event(event)
            if m.done:
                self.active.pop(cid, None)

    def get(self, conf_id: str) -> ThreeWayCall | None:
        return self.active.get(conf_id)
