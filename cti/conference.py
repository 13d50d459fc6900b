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

import logging
from datetime import datetime
from typing import Any, Callable

from cti.control import CallControl, ConferenceMember, ControlError
from cti.events import LegHungup
from cti.machine import InvalidTransfer, Machine, MachineService, State, transition
from cti.model import CallModel, Publisher, utcnow

log = logging.getLogger("cti.conference")

Next = "type[ConferenceState] | None"


class ConferenceState(State):
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
            await m.fall_back(f"could not move caller and agent into the room: {e.message}")
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
            await m.fall_back(f"could not call the third party: {e.message}")
            return Reverted
        m.watch(m.await_guest(pending))
        return Inviting

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        return Ended

    @transition("agent_hangup")
    async def agent_hangup(self, m: "ThreeWayCall") -> Next:
        return Ended


class _GuestRinging(ConferenceState):
    """The guest is being called (Inviting, CallerWaiting): cancelling drops it and gives the caller back."""

    @transition("cancel")
    async def cancel(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.give_back()
        return Cancelled


class Inviting(_GuestRinging):
    """Caller and agent are in the room; the guest is ringing."""

    name = "inviting"

    @transition("guest_answered")
    async def guest_answered(self, m: "ThreeWayCall") -> Next:
        return Conferenced

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        await m.fall_back(f"third party did not join ({reason})")
        return Reverted

    @transition("agent_hangup")
    async def agent_hangup(self, m: "ThreeWayCall") -> Next:
        return CallerWaiting

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.kick(m.agent_id)
        return Ended


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
        await m.fall_back(f"third party left ({reason})")
        return Reverted

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        return AgentWithGuest

    @transition("end")
    async def end(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        await m.give_back()
        return Reverted


class CallerWaiting(_GuestRinging):
    """The agent hung up while the guest was ringing: the caller waits in the room."""

    name = "caller_waiting"

    @transition("guest_answered")
    async def guest_answered(self, m: "ThreeWayCall") -> Next:
        return TwoParty

    @transition("guest_hangup")
    async def guest_hangup(self, m: "ThreeWayCall", reason: str) -> Next:
        await m.fall_back(f"third party did not join ({reason}) and the agent had left")
        return Failed

    @transition("caller_hangup")
    async def caller_hangup(self, m: "ThreeWayCall") -> Next:
        await m.drop_guest()
        return Ended


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


class ThreeWayCall(Machine):
    kind = "conference"
    label = "three-way"
    log = log
    hangup_events = ("caller_hangup", "agent_hangup", "guest_hangup")

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
        super().__init__(
            conf_id, control, model, bus,
            call_id=call_id, caller=caller, caller_id=caller_id, agent=agent, agent_id=agent_id,
            ivr_context=ivr_context, ivr_exten=ivr_exten, ring_timeout=ring_timeout, clock=clock, state=Ready(),
        )
        self.room = room
        self.room_exten = f"conf-{room}"
        self.guest_context = guest_context
        self.guest_exten = guest_exten
        self.guest_id = f"{conf_id}-g"
        self.guest = ""

    @property
    def conf_id(self) -> str:
        return self.machine_id

    @property
    def third_id(self) -> str:
        return self.guest_id

    def _where(self) -> str:
        return f"call {self.call_id}, room {self.room}"

    async def await_guest(self, pending: Any) -> None:
        res = await pending.result()
        if res.success:
            self.guest = res.channel
            if res.uniqueid and res.uniqueid != self.guest_id and not self.alive(self.guest_id):
                self.guest_id = res.uniqueid  # the PBX did not take our ChannelId
            await self.guest_answered()
        else:
            await self.guest_hangup(res.outcome)

    # --- events -------------------------------------------------------
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

    # --- room operations (any live state) ---------------------------------
    def _name(self, uid: str) -> str:
        """The party's current channel name (in the room it may have been renamed)."""
        ch = self.model.channel(uid)
        if ch is not None:
            return ch.name
        if uid in (self.caller_id, self.agent_id):
            return super()._name(uid)
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
        await self.hang_up_quietly(self.guest_id, self._name(self.guest_id))


class ConferenceService(MachineService[ThreeWayCall]):
    """Starts three-way calls and routes LegHungup events to them (subscribe :meth:`on_event`)."""

    EVENTS = (LegHungup,)
    id_prefix = "conf"

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
        ag, cl, dnis = self._parties(agent, caller)
        cid = self._next_id()
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
        return await self._launch(m)
