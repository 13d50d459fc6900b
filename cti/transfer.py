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
``TransferFailed``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
from datetime import datetime
from typing import Any, Awaitable, Callable, ClassVar, Protocol

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
    TransferStateChanged,
)
from cti.model import CallModel, Publisher, NullPublisher, utcnow

log = logging.getLogger("cti.transfer")


class InvalidTransfer(Exception):
    """The request does not fit the call (e.g. the agent is not bridged with a caller)."""


# ---------------------------------------------------------------------------
# drivers
# ---------------------------------------------------------------------------
class Driver(Protocol):
    async def start(self, m: "AttendedTransferMachine") -> None: ...

    async def consult(self, m: "AttendedTransferMachine") -> None: ...

    async def connect(self, m: "AttendedTransferMachine") -> None: ...

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

    async def connect(self, m: "AttendedTransferMachine") -> None:
        await m.control.bridge(m.recipient_name(), m.caller)
        if m.alive(m.agent_id):
            try:
                await m.control.hangup(m.agent, 16)
            except ControlError:
                pass

    async def cancel(self, m: "AttendedTransferMachine") -> None:
        # Take the agent back first: pulling it out of the consultation bridge dissolves that
        # bridge; hanging up the recipient first would dissolve it and drop the agent with it.
        await m.give_back()
        await self.drop_recipient(m)

    async def drop_recipient(self, m: "AttendedTransferMachine") -> None:
        if m.alive(m.recipient_id):
            try:
                await m.control.hangup(m.recipient_name(), 16)
            except ControlError:
                pass


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

    async def connect(self, m: "AttendedTransferMachine") -> None:
        # The transferer hanging up completes an Atxfer (BridgeMerge + AttendedTransfer).
        if m.alive(m.agent_id):
            await m.control.hangup(m.agent, 16)
        else:
            await m.control.bridge(m.recipient_name(), m.caller)

    async def drop_recipient(self, m: "AttendedTransferMachine") -> None:
        if m.recipient_id and m.alive(m.recipient_id):
            try:
                await m.control.hangup(m.recipient_name(), 16)
            except ControlError:
                pass


# ---------------------------------------------------------------------------
# states
# ---------------------------------------------------------------------------
Next = "type[TransferState] | None"


def transition(event: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[None]]]:
    """Decorate a state's event method: it returns the next state class (or None to stay);
    the machine's ``_enter`` logs and publishes the transition (shared with cti.conference)."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(fn)
        async def wrapper(self: Any, m: Any, *args: Any) -> None:
            nxt = await fn(self, m, *args)
            if nxt is not None and nxt is not type(self):
                m._enter(nxt, event)

        wrapper.__transition__ = event  # type: ignore[attr-defined]
        return wrapper

    return deco


class TransferState:
    name: ClassVar[str] = "?"
    terminal: ClassVar[bool] = False

    async def start(self, m: "AttendedTransferMachine") -> None:
        log.info("transfer %s: start ignored in %s", m.transfer_id, self.name)

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
            m.reason = f"{e.action}: {e.message}"
            await m.give_back()
            return Failed
        return Ringing

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        return Abandoned

    @transition("initiator_hangup")
    async def initiator_hangup(self, m: "AttendedTransferMachine") -> Next:
        m.reason = "agent hung up before the transfer started"
        await m.give_back()
        return Failed

    @transition("cancel")
    async def cancel(self, m: "AttendedTransferMachine") -> Next:
        return Cancelled


class Ringing(TransferState):
    """The recipient is being called; the caller is on hold."""

    name = "ringing"

    @transition("recipient_answered")
    async def recipient_answered(self, m: "AttendedTransferMachine") -> Next:
        try:
            await m.driver.consult(m)
        except ControlError as e:
            if not m.alive(m.agent_id):  # the agent left just now: connect the caller directly
                return await _connect_or_fail(m)
            m.reason = f"consultation bridge failed: {e.message}"
            await m.driver.drop_recipient(m)
            await m.give_back()
            return Failed
        return Consulting

    @transition("recipient_hangup")
    async def recipient_hangup(self, m: "AttendedTransferMachine", reason: str) -> Next:
        m.reason = f"recipient did not take the call ({reason})"
        await m.give_back()
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
        if m.alive(m.agent_id):
            try:
                await m.control.hangup(m.agent, 16)
            except ControlError:
                pass
        return Blonde

    @transition("cancel")
    async def cancel(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.cancel(m)
        return Cancelled


class Consulting(TransferState):
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
        m.reason = f"recipient hung up during consultation ({reason})"
        await m.give_back()
        return Failed

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        return Abandoned  # agent and recipient stay connected

    @transition("cancel")
    async def cancel(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.cancel(m)
        return Cancelled

    @transition("completed_by_pbx")
    async def completed_by_pbx(self, m: "AttendedTransferMachine") -> Next:
        return Completed


class Blonde(TransferState):
    """The agent left before the recipient answered; the caller waits for the recipient."""

    name = "blonde"

    @transition("recipient_answered")
    async def recipient_answered(self, m: "AttendedTransferMachine") -> Next:
        return await _connect_or_fail(m)

    @transition("recipient_hangup")
    async def recipient_hangup(self, m: "AttendedTransferMachine", reason: str) -> Next:
        m.reason = f"recipient did not take the call ({reason}) and the agent had left"
        await m.give_back()
        return Failed

    @transition("transferred_hangup")
    async def transferred_hangup(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.drop_recipient(m)
        return Abandoned

    async def initiator_hangup(self, m: "AttendedTransferMachine") -> None:
        return None

    async def complete(self, m: "AttendedTransferMachine") -> None:
        return None  # already completing

    @transition("cancel")
    async def cancel(self, m: "AttendedTransferMachine") -> Next:
        await m.driver.cancel(m)
        return Cancelled

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
        await m.driver.connect(m)
    except ControlError as e:
        m.reason = f"could not connect caller and recipient: {e.message}"
        await m.driver.drop_recipient(m)
        await m.give_back()
        return Failed
    return Completed


STATES: tuple[type[TransferState], ...] = (Ready, Ringing, Consulting, Blonde, Completed, Cancelled, Failed, Abandoned)


# ---------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------
class AttendedTransferMachine:
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
        self.transfer_id = transfer_id
        self.control = control
        self.model = model
        self.bus = bus
        self.call_id = call_id
        self.caller = caller
        self.caller_id = caller_id
        self.agent = agent
        self.agent_id = agent_id
        self.target_context = target_context
        self.target_exten = target_exten
        self.driver = driver
        self.ivr_context = ivr_context
        self.ivr_exten = ivr_exten
        self.ring_timeout = ring_timeout
        self.recipient_caller_id = recipient_caller_id
        self.recipient_id = f"{transfer_id}-r" if driver.name == "server" else ""
        self.recipient: str = ""
        self.reason = ""
        self.returned_to = ""
        self.state: TransferState = Ready()
        self.history: list[tuple[str, str, str]] = []  # (from, to, event)
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

    def recipient_name(self) -> str:
        """The recipient's current channel name (Asterisk also accepts the Uniqueid we chose)."""
        ch = self.model.channel(self.recipient_id) if self.recipient_id else None
        if ch is not None:
            return ch.name
        return self.recipient or self.recipient_id

    def watch(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("transfer %s: helper task failed", self.transfer_id, exc_info=task.exception())

    def _enter(self, nxt: type[TransferState], event: str) -> None:
        old = self.state.name
        self.state = nxt()
        self.history.append((old, nxt.name, event))
        log.info("transfer %s (call %s): %s --%s--> %s", self.transfer_id, self.call_id, old, event, nxt.name)
        self.publish(TransferStateChanged(self.call_id, self.now(), "transfer", self.transfer_id, old, nxt.name, event))
        if nxt is Completed:
            self.publish(TransferCompleted(self.call_id, self.now(), self.transfer_id, "attended", self.caller, f"{self.target_context},{self.target_exten}"))
        elif nxt is Failed:
            self.publish(TransferFailed(self.call_id, self.now(), self.transfer_id, "attended", self.reason, self.returned_to))
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

    # --- events -----------------------------------------------------
    async def start(self) -> None:
        await self._dispatch("start")

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

    async def cancel(self) -> None:
        await self._dispatch("cancel")

    async def completed_by_pbx(self) -> None:
        async with self._lock:
            fn = getattr(self.state, "completed_by_pbx", None)
            if fn is not None:
                await fn(self)

    async def wait(self, timeout: float | None = None) -> str:
        await asyncio.wait_for(self.finished.wait(), timeout)
        return self.state.name

    # --- the caller is never dropped ------------------------------------
    async def give_back(self) -> str:
        """Return the caller to the agent, else to the IVR. Returns "agent", "ivr" or ""."""
        if not self.alive(self.caller_id):
            self.returned_to = ""
            return ""
        if self.alive(self.agent_id):
            if self.driver.name == "atxfer" and any(p.uniqueid == self.agent_id for p in self.model.peers(self.caller_id)):
                self.returned_to = "agent"  # already together (Asterisk gave the caller back itself)
                return "agent"
            try:
                await self.control.bridge(self.agent, self.caller)
                self.returned_to = "agent"
                return "agent"
            except ControlError as e:
                log.warning("transfer %s: could not return the caller to the agent (%s)", self.transfer_id, e.message)
        try:
            await self.control.redirect(self.caller, self.ivr_context, self.ivr_exten, 1)
            self.returned_to = "ivr"
            return "ivr"
        except ControlError as e:
            log.error("transfer %s: could not return the caller to the IVR either (%s)", self.transfer_id, e.message)
            self.returned_to = ""
            return ""

    # --- routing of domain events ---------------------------------------
    def parties(self) -> tuple[str, ...]:
        return tuple(u for u in (self.caller_id, self.agent_id, self.recipient_id) if u)

    async def on_event(self, event: object) -> None:
        if self.done:
            return
        if isinstance(event, LegHungup):
            if event.leg_id == self.caller_id:
                await self.transferred_hangup()
            elif event.leg_id == self.agent_id:
                await self.initiator_hangup()
            elif self.recipient_id and event.leg_id == self.recipient_id:
                await self.recipient_hangup(event.cause_txt or "hung up")
        elif self.driver.name == "atxfer":
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


class TransferService:
    """Starts attended transfers and routes domain events to them.

    The composition root subscribes :meth:`on_event` to the bus for :attr:`EVENTS`."""

    EVENTS = (LegHungup, LegAdded, DialStarted, DialEnded, CallBridged, TransferCompleted)

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
        self.active: dict[str, AttendedTransferMachine] = {}
        self._ids = itertools.count(1)
        self._prefix = f"xfer{secrets.token_hex(3)}"

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
        driver: Driver = ServerDriver() if mode == "server" else AtxferDriver()
        tid = f"{self._prefix}-{next(self._ids)}"
        m = AttendedTransferMachine(
            tid,
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
        self.active[tid] = m
        await m.start()
        if m.done:
            self.active.pop(tid, None)
        return m

    async def on_event(self, event: object) -> None:
        for tid, m in list(self.active.items()):
            await m.on_event(event)
            if m.done:
                self.active.pop(tid, None)

    def get(self, transfer_id: str) -> AttendedTransferMachine | None:
        return self.active.get(transfer_id)
