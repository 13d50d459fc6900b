"""Attended transfer: an explicit state machine in which every state handles a hang-up by anyone.

Parties: the *transferred* party (the caller), the *initiator* (the agent who is
bridged with the caller) and the *recipient* (the seat or number consulted).

States (one class each, one method per event; every method answers
"what if someone hangs up now?")::

    Ready --start()--> Ringing --recipient_answered--> Consulting --complete()/initiator_hangup--> Completed
                         |  \\--initiator_hangup / complete()--> Blonde --recipient_answered--> Completed
                         |                                          \\--recipient_hangup--> Failed (caller to the IVR)
                         |--recipient_hangup (busy, no answer...)--> Failed (caller back to the agent)
                         |--cancel()--> Cancelled (caller back to the agent)
                         \\--transferred_hangup--> Abandoned (recipient hung up)
    Consulting --recipient_hangup--> Failed (caller back to the agent); --cancel()--> Cancelled;
               --transferred_hangup--> Abandoned (agent and recipient stay connected)

A failure never drops the caller: :meth:`AttendedTransferMachine.give_back` bridges
the caller with the agent again, or, if the agent is gone or the bridge fails,
redirects the caller to the IVR (``hotline-ivr,<dnis>``).

Two drivers perform the actions:

* ``ServerDriver`` (default; works with any channel technology): hold the
  caller (``hotline-hold,moh``), originate the recipient as
  ``Local/<exten>@<context>`` into ``hotline-agent,connect`` with
  ``HOTLINE_CALL`` (so it is a leg of the same call) and our own ChannelId, bridge
  it with the agent to consult, and on completion bridge caller and recipient and
  hang up the agent leg.
* ``AtxferDriver``: Asterisk's own attended transfer (``Atxfer``; needs the
  features.conf ``atxfer`` code and the ``t``/``T`` Dial options, i.e. an agent leg
  created by ``Dial``). The recipient is the channel the agent dials after the
  request (``DialBegin``); Asterisk completes the transfer when the agent hangs up
  (``BridgeMerge`` + ``AttendedTransfer``) and gives the agent back the caller when
  the recipient hangs up. ``complete()`` therefore hangs up the agent and
  ``cancel()`` hangs up the recipient.

Each transition is logged and published as
:class:`~cti.events.TransferStateChanged`; outcomes as ``TransferCompleted`` /
``TransferFailed``. A completed transfer counts once on the call's CDR
(``CallRecord.transfers``): the call model counts Asterisk's ``AttendedTransfer``
event; a transfer the server completed with ``Bridge`` (no such event) is counted
with :meth:`cti.model.CallModel.count_transfer`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Protocol

from cti.control import CallControl, ControlError
from cti.events import (
    CallBridged,
    DialEnded,
    DialStarted,
    LegAdded,
    LegHungup,
    TransferCompleted,
    TransferFailed,
    TransferStarted,
)
from cti.machine import InvalidTransfer, Machine, MachineService, State, transition
from cti.model import CallModel, Publisher, utcnow

__all__ = [
    "STATES",
    "AtxferDriver",
    "AttendedTransferMachine",
    "Driver",
    "InvalidTransfer",
    "ServerDriver",
    "TransferService",
    "TransferState",
    "transition",
]

log = logging.getLogger("cti.transfer")


# ---------------------------------------------------------------------------
# drivers
# ---------------------------------------------------------------------------
class Driver(Protocol):
    async def start(self, m: "AttendedTransferMachine") -> None: ...

    async def consult(self, m: "AttendedTransferMachine") -> None: ...

    async def connect(self, m: "AttendedTransferMachine") -> bool:
        """Join caller and recipient. True if the server joined them itself (``Bridge``: Asterisk
        reports no transfer, the machine counts it on the CDR); False if Asterisk completes the
        transfer (its ``AttendedTransfer`` event, which the call model counts)."""
        ...

    async def cancel(self, m: "AttendedTransferMachine") -> None: ...

    async def drop_recipient(self, m: "AttendedTransferMachine") -> None: ...


class ServerDriver:
    """Server-driven: hold, originate, bridge. See the module docstring."""

    name = "server"

    def __init__(self, agent_context: str = "hotline-agent", agent_exten: str = "connect") -> None:
        self.agent_context = agent_context
        self.agent_exten = agent_exten

    async def start(self, m: "AttendedTransferMachine") -> None:
        await m.control.hold(m.caller)
        recipient_id = m.recipient_id
        dial = f"Local/{m.target_exten}@{m.target_context}"
        pending = await m.control.start_originate(
            dial,
            context=self.agent_context,
            exten=self.agent_exten,
            call_id=m.call_id,
            role="transfer",
            channel_id=recipient_id,
            other_channel_id=f"{recipient_id}-2",
            ring_timeout=m.ring_timeout,
            caller_id=m.recipient_caller_id,
        )
        m.watch(self._await_answer(m, pending))

    async def _await_answer(self, m: "AttendedTransferMachine", pending: Any) -> None:
        res = await pending.result()
        if res.success:
            if res.channel:
                m.recipient = res.channel
            if res.uniqueid and res.uniqueid != m.recipient_id and not m.alive(m.recipient_id):
                m.recipient_id = res.uniqueid  # the PBX did not take our ChannelId
            await m.recipient_answered()
        else:
            await m.recipient_hangup(res.outcome)

    async def consult(self, m: "AttendedTransferMachine") -> None:
        await m.control.bridge(m.agent, m.recipient_name())

    async def connect(self, m: "AttendedTransferMachine") -> bool:
        await m.control.bridge(m.recipient_name(), m.caller)
        await m.hang_up_quietly(m.agent_id, m.agent)
        return True

    async def cancel(self, m: "AttendedTransferMachine") -> None:
        # Take the agent back first: pulling it out of the consultation bridge dissolves that
        # bridge; hanging up the recipient first would dissolve it and drop the agent with it.
        await m.give_back()
        await self.drop_recipient(m)

    async def drop_recipient(self, m: "AttendedTransferMachine") -> None:
        await m.hang_up_quietly(m.recipient_id, m.recipient_name())


class AtxferDriver:
    """Asterisk-driven (``Atxfer``). See the module docstring."""

    name = "atxfer"

    async def cancel(self, m: "AttendedTransferMachine") -> None:
        # Asterisk gives the transferer back to the transferee when the target hangs up.
        await self.drop_recipient(m)
        await m.give_back()

    async def start(self, m: "AttendedTransferMachine") -> None:
        await m.control.atxfer(m.agent, m.target_context, m.target_exten)

    async def consult(self, m: "AttendedTransferMachine") -> None:
        return None  # Asterisk bridged agent and recipient itself

    async def connect(self, m: "AttendedTransferMachine") -> bool:
        # The transferer hanging up completes an Atxfer (BridgeMerge + AttendedTransfer).
        if m.alive(m.agent_id):
            await m.control.hangup(m.agent, 16)
            return False
        await m.control.bridge(m.recipient_name(), m.caller)
        return True

    async def drop_recipient(self, m: "AttendedTransferMachine") -> None:
        await m.hang_up_quietly(m.recipient_id, m.recipient_name())


# ---------------------------------------------------------------------------
# states
# ---------------------------------------------------------------------------
Next = "type[TransferState] | None"


class TransferState(State):
    async def recipient_answered(self, m: "AttendedTransferMachine") -> None:
        log.debug("transfer %s: recipient_answered ignored in %s", m.transfer_id, self.name)

    async def recipient_hangup(self, m: "AttendedTransferMachine", reason: str) -> None:
        log.debug("transfer %s: recipient_hangup ignored in %s", m.transfer_id, self.name)

    async def initiator_hangup(self, m: "AttendedTransferMachine") -> None:
        log.debug("transfer %s: initiator_hangup ignored in %s", m.transfer_id, self.name)

    async def transferred_hangup(self, m: "AttendedTransferMachine") -> None:
        log.debug("transfer %s: transferred_hangup ignored in %s", m.transfer_id, self.name)

    async def complete(self, m: "AttendedTransferMachine") -> None:
        raise InvalidTransfer(f"cannot complete a transfer in state {self.name}")

    async def cancel(self, m: "AttendedTransferMachine") -> None:
        raise InvalidTransfer(f"cannot cancel a transfer in state {self.name}")


class Ready(TransferState):
    name = "ready"

    @transition("start")
    async def start(self, m: "AttendedTransferMachine") -> Next:
        m.publish(TransferStarted(m.call_id, m.now(), m.transfer_id, "attended", m.agent, m.caller, f"{m.target_context},{m.target_exten}"))
        try:
            await m.driver.start(m)
        except ControlError as e:
            await m.fall_back(f"{e.action}: {e.message}")
            return Failed
        return Ringing

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        return Abandoned

    @transition("initiator_hangup")
    async def initiator_hangup(self, m: "AttendedTransferMachine") -> Next:
        await m.fall_back("agent hung up before the transfer started")
        return Failed

    @transition("cancel")
    async def cancel(self, m: "AttendedTransferMachine") -> Next:
        return Cancelled


class _Live(TransferState):
    """A transfer under way (Ringing, Consulting, Blonde): cancelling gives the caller back."""

    @transition("cancel")
    async def cancel(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.cancel(m)
        return Cancelled


class Ringing(_Live):
    """The recipient is being called; the caller is on hold."""

    name = "ringing"

    @transition("recipient_answered")
    async def recipient_answered(self, m: "AttendedTransferMachine") -> Next:
        try:
            await m.driver.consult(m)
        except ControlError as e:
            if not m.alive(m.agent_id):  # the agent left just now: connect the caller directly
                return await _connect_or_fail(m)
            await m.driver.drop_recipient(m)
            await m.fall_back(f"consultation bridge failed: {e.message}")
            return Failed
        return Consulting

    @transition("recipient_hangup")
    async def recipient_hangup(self, m: "AttendedTransferMachine", reason: str) -> Next:
        await m.fall_back(f"recipient did not take the call ({reason})")
        return Failed

    @transition("initiator_hangup")
    async def initiator_hangup(self, m: "AttendedTransferMachine") -> Next:
        return Blonde

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.drop_recipient(m)
        return Abandoned

    @transition("complete")
    async def complete(self, m: "AttendedTransferMachine") -> Next:
        # Completing before the recipient answered: the agent leaves, the caller waits for the recipient.
        await m.hang_up_quietly(m.agent_id, m.agent)
        return Blonde


class Consulting(_Live):
    """Agent and recipient talk; the caller is on hold."""

    name = "consulting"

    @transition("complete")
    async def complete(self, m: "AttendedTransferMachine") -> Next:
        return await _connect_or_fail(m)

    @transition("initiator_hangup")
    async def initiator_hangup(self, m: "AttendedTransferMachine") -> Next:
        if m.driver.name == "atxfer":
            return None  # Asterisk completes it; the AttendedTransfer event says so
        return await _connect_or_fail(m)

    @transition("recipient_hangup")
    async def recipient_hangup(self, m: "AttendedTransferMachine", reason: str) -> Next:
        await m.fall_back(f"recipient hung up during consultation ({reason})")
        return Failed

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        return Abandoned  # agent and recipient stay connected

    @transition("completed_by_pbx")
    async def completed_by_pbx(self, m: "AttendedTransferMachine") -> Next:
        return Completed


class Blonde(_Live):
    """The agent left before the recipient answered; the caller waits for the recipient."""

    name = "blonde"

    @transition("recipient_answered")
    async def recipient_answered(self, m: "AttendedTransferMachine") -> Next:
        return await _connect_or_fail(m)

    @transition("recipient_hangup")
    async def recipient_hangup(self, m: "AttendedTransferMachine", reason: str) -> Next:
        await m.fall_back(f"recipient did not take the call ({reason}) and the agent had left")
        return Failed

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.drop_recipient(m)
        return Abandoned

    async def initiator_hangup(self, m: "AttendedTransferMachine") -> None:
        return None

    async def complete(self, m: "AttendedTransferMachine") -> None:
        return None  # already completing

    @transition("completed_by_pbx")
    async def completed_by_pbx(self, m: "AttendedTransferMachine") -> Next:
        return Completed


class _Terminal(TransferState):
    terminal = True

    async def complete(self, m: "AttendedTransferMachine") -> None:
        raise InvalidTransfer(f"transfer already {self.name}")

    async def cancel(self, m: "AttendedTransferMachine") -> None:
        raise InvalidTransfer(f"transfer already {self.name}")


class Completed(_Terminal):
    name = "completed"


class Cancelled(_Terminal):
    name = "cancelled"


class Failed(_Terminal):
    name = "failed"


class Abandoned(_Terminal):
    """The caller hung up: nothing left to transfer."""

    name = "abandoned"


async def _connect_or_fail(m: "AttendedTransferMachine") -> type[TransferState]:
    if not m.alive(m.caller_id):
        await m.driver.drop_recipient(m)
        return Abandoned
    try:
        m.joined_by_server = await m.driver.connect(m)
    except ControlError as e:
        await m.driver.drop_recipient(m)
        await m.fall_back(f"could not connect caller and recipient: {e.message}")
        return Failed
    return Completed


STATES: tuple[type[TransferState], ...] = (Ready, Ringing, Consulting, Blonde, Completed, Cancelled, Failed, Abandoned)


# ---------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------
class AttendedTransferMachine(Machine):
    kind = "transfer"
    label = "transfer"
    log = log
    hangup_events = ("transferred_hangup", "initiator_hangup", "recipient_hangup")

    def __init__(
        self,
        transfer_id: str,
        control: CallControl,
        model: CallModel,
        bus: Publisher,
        *,
        call_id: str,
        caller: str,
        caller_id: str,
        agent: str,
        agent_id: str,
        target_context: str,
        target_exten: str,
        driver: Driver,
        ivr_context: str,
        ivr_exten: str,
        ring_timeout: float = 30.0,
        recipient_caller_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            transfer_id, control, model, bus,
            call_id=call_id, caller=caller, caller_id=caller_id, agent=agent, agent_id=agent_id,
            ivr_context=ivr_context, ivr_exten=ivr_exten, ring_timeout=ring_timeout, clock=clock, state=Ready(),
        )
        self.target_context = target_context
        self.target_exten = target_exten
        self.driver = driver
        self.recipient_caller_id = recipient_caller_id
        self.recipient_id = f"{transfer_id}-r" if driver.name == "server" else ""
        self.recipient: str = ""
        # The server joined caller and recipient itself (see Driver.connect): Asterisk reports no
        # transfer, so completing counts it on the call's CDR (CallModel.count_transfer).
        self.joined_by_server = False

    @property
    def transfer_id(self) -> str:
        return self.machine_id

    @property
    def third_id(self) -> str:
        return self.recipient_id

    def recipient_name(self) -> str:
        """The recipient's current channel name (Asterisk also accepts the Uniqueid we chose)."""
        ch = self.model.channel(self.recipient_id) if self.recipient_id else None
        if ch is not None:
            return ch.name
        return self.recipient or self.recipient_id

    def _entered(self, nxt: type[State]) -> None:
        if nxt is Completed:
            if self.joined_by_server:
                self.model.count_transfer(self.call_id, self.transfer_id)
            self.publish(TransferCompleted(self.call_id, self.now(), self.transfer_id, "attended", self.caller, f"{self.target_context},{self.target_exten}"))
        elif nxt is Failed:
            self.publish(TransferFailed(self.call_id, self.now(), self.transfer_id, "attended", self.reason, self.returned_to))

    # --- events -----------------------------------------------------
    async def recipient_answered(self) -> None:
        await self._dispatch("recipient_answered")

    async def recipient_hangup(self, reason: str = "hung up") -> None:
        await self._dispatch("recipient_hangup", reason)

    async def initiator_hangup(self) -> None:
        await self._dispatch("initiator_hangup")

    async def transferred_hangup(self) -> None:
        await self._dispatch("transferred_hangup")

    async def complete(self) -> None:
        await self._dispatch("complete")

    async def completed_by_pbx(self) -> None:
        async with self._lock:
            fn = getattr(self.state, "completed_by_pbx", None)
            if fn is not None:
                await fn(self)

    def _with_agent_already(self) -> bool:
        # With Atxfer, Asterisk gives the caller back to the agent itself.
        return self.driver.name == "atxfer" and any(p.uniqueid == self.agent_id for p in self.model.peers(self.caller_id))

    # --- routing of domain events ---------------------------------------
    def parties(self) -> tuple[str, ...]:
        return tuple(u for u in (self.caller_id, self.agent_id, self.recipient_id) if u)

    async def _on_other_event(self, event: object) -> None:
        if self.driver.name == "atxfer":
            await self._on_atxfer_event(event)

    async def _on_atxfer_event(self, event: object) -> None:
        # Atxfer dials the target from the agent's channel: a new Local/<exten>@<context> pair in the
        # same call (LegAdded; no DialBegin), DialEnd for its ;1 leg, then the agent moves into a
        # second bridge with it. Asterisk completes with BridgeMerge + AttendedTransfer.
        if self.state.name not in ("ringing", "consulting", "blonde"):
            return
        if isinstance(event, LegAdded) and event.call_id == self.call_id and not self.recipient_id:
            if event.leg_id not in (self.caller_id, self.agent_id):
                self.recipient_id = event.leg_id
                self.recipient = event.channel
        elif isinstance(event, DialStarted) and event.leg_id == self.agent_id and not self.recipient_id:
            self.recipient_id = event.dest_leg_id
            self.recipient = event.dest_channel
        elif isinstance(event, DialEnded) and self.recipient_id and event.dest_leg_id == self.recipient_id:
            if event.dial_status == "ANSWER":
                await self.recipient_answered()
            else:
                await self.recipient_hangup(event.dial_status.lower())
        elif isinstance(event, CallBridged) and event.leg_id == self.agent_id and event.peers and self.caller_id not in event.peers:
            if not self.recipient_id:
                self.recipient_id = event.peers[0]
            await self.recipient_answered()
        elif isinstance(event, TransferCompleted) and not event.transfer_id and event.kind == "attended" and event.call_id == self.call_id:
            await self.completed_by_pbx()


class TransferService(MachineService[AttendedTransferMachine]):
    """Starts attended transfers and routes domain events to them.

    The composition root subscribes :meth:`on_event` to the bus for :attr:`EVENTS`."""

    EVENTS = (LegHungup, LegAdded, DialStarted, DialEnded, CallBridged, TransferCompleted)
    id_prefix = "xfer"

    async def start_attended(
        self,
        agent: str,
        target_exten: str,
        *,
        target_context: str = "hotline-outbound",
        caller: str | None = None,
        mode: str = "server",
        ring_timeout: float = 30.0,
    ) -> AttendedTransferMachine:
        """Start consulting ``target_exten@target_context`` from ``agent`` (name or Uniqueid)."""
        ag, cl, dnis = self._parties(agent, caller)
        driver: Driver = ServerDriver() if mode == "server" else AtxferDriver()
        m = AttendedTransferMachine(
            self._next_id(),
            self.control,
            self.model,
            self.bus,
            call_id=cl.call_id,
            caller=cl.name,
            caller_id=cl.uniqueid,
            agent=ag.name,
            agent_id=ag.uniqueid,
            target_context=target_context,
            target_exten=target_exten,
            driver=driver,
            ivr_context=self.ivr_context,
            ivr_exten=dnis,
            ring_timeout=ring_timeout,
            clock=self._clock,
        )
        return await self._launch(m)
