"""What the call state machines (cti.transfer, cti.conference) share.

Each machine is explicit: one class per state (a :class:`State`), one method per
event, and the :func:`transition` decorator on a state's event method, which
returns the next state class. :meth:`Machine._enter` then logs the transition,
keeps it in ``history``, publishes it as :class:`~cti.events.TransferStateChanged`
and, in a terminal state, finishes the machine and cancels its helper tasks.

Every machine has three parties: the caller, the agent bridged with the caller,
and a third party (the transfer's recipient, the conference's guest).
:meth:`Machine.on_event` turns a ``LegHungup`` of any of them into the machine's
hang-up event for that party, and :meth:`Machine.give_back` is the fallback that
never drops the caller: back to the agent (``Bridge``), else to the IVR
(``hotline-ivr,<dnis>``).

:class:`MachineService` starts machines for an agent's call, keeps the active
ones under their ids and routes domain events to them.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
from datetime import datetime
from typing import Any, Awaitable, Callable, ClassVar, Generic, TypeVar

from cti.control import CallControl, ControlError
from cti.events import LegHungup, TransferStateChanged
from cti.model import CallModel, Channel, NullPublisher, Publisher, utcnow


class InvalidTransfer(Exception):
    """The request does not fit the call (e.g. the agent is not bridged with a caller)."""


def transition(event: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[None]]]:
    """Decorate a state's event method: it returns the next state class (or None to stay);
    the machine's ``_enter`` logs and publishes the transition."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(fn)
        async def wrapper(self: Any, m: Any, *args: Any) -> None:
            nxt = await fn(self, m, *args)
            if nxt is not None and nxt is not type(self):
                m._enter(nxt, event)

        wrapper.__transition__ = event  # type: ignore[attr-defined]
        return wrapper

    return deco


class State:
    name: ClassVar[str] = "?"
    terminal: ClassVar[bool] = False

    async def start(self, m: Any) -> None:
        m.log.info("%s %s: start ignored in %s", m.label, m.machine_id, self.name)


class Machine:
    """A state machine over one call's caller, agent and third party.

    Subclasses set the class attributes below, keep their events as methods that
    ``_dispatch`` to the state, and name the third party's leg in :attr:`third_id`."""

    kind: ClassVar[str]  # TransferStateChanged.kind
    label: ClassVar[str]  # how log lines name the machine
    log: ClassVar[logging.Logger]
    # the machine's events for a hang-up of the caller, of the agent and of the third party (with a reason)
    hangup_events: ClassVar[tuple[str, str, str]]

    def __init__(
        self,
        machine_id: str,
        control: CallControl,
        model: CallModel,
        bus: Publisher,
        *,
        call_id: str,
        caller: str,
        caller_id: str,
        agent: str,
        agent_id: str,
        ivr_context: str,
        ivr_exten: str,
        ring_timeout: float,
        clock: Callable[[], datetime],
        state: State,
    ) -> None:
        self.machine_id = machine_id
        self.control = control
        self.model = model
        self.bus = bus
        self.call_id = call_id
        self.caller = caller
        self.caller_id = caller_id
        self.agent = agent
        self.agent_id = agent_id
        self.ivr_context = ivr_context
        self.ivr_exten = ivr_exten
        self.ring_timeout = ring_timeout
        self.reason = ""
        self.returned_to = ""
        self.state = state
        self.history: list[tuple[str, str, str]] = []  # (from, to, event)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.finished = asyncio.Event()

    @property
    def third_id(self) -> str:
        """The third party's leg id ("" while unknown)."""
        raise NotImplementedError

    # --- plumbing ---------------------------------------------------
    def now(self) -> datetime:
        return self._clock()

    def publish(self, event: object) -> None:
        self.bus.publish(event)

    def alive(self, uid: str) -> bool:
        return bool(uid) and self.model.channel(uid) is not None

    def _name(self, uid: str) -> str:
        """The channel to name in actions on party ``uid``: caller and agent as given at the start."""
        if uid == self.caller_id:
            return self.caller
        if uid == self.agent_id:
            return self.agent
        return uid

    def _where(self) -> str:
        return f"call {self.call_id}"

    def watch(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s %s: helper task failed", self.label, self.machine_id, exc_info=task.exception())

    def _enter(self, nxt: type[State], event: str) -> None:
        old = self.state.name
        self.state = nxt()
        self.history.append((old, nxt.name, event))
        self.log.info("%s %s (%s): %s --%s--> %s", self.label, self.machine_id, self._where(), old, event, nxt.name)
        self.publish(TransferStateChanged(self.call_id, self.now(), self.kind, self.machine_id, old, nxt.name, event))
        self._entered(nxt)
        if self.state.terminal:
            self.finished.set()
            for t in list(self._tasks):
                if t is not asyncio.current_task():
                    t.cancel()

    def _entered(self, nxt: type[State]) -> None:
        """After the transition is published: publish what entering ``nxt`` means (an outcome)."""

    async def _dispatch(self, event: str, *args: Any) -> None:
        async with self._lock:
            await getattr(self.state, event)(self, *args)

    @property
    def done(self) -> bool:
        return self.state.terminal

    async def wait(self, timeout: float | None = None) -> str:
        await asyncio.wait_for(self.finished.wait(), timeout)
        return self.state.name

    # --- events every machine has -------------------------------------
    async def start(self) -> None:
        await self._dispatch("start")

    async def cancel(self) -> None:
        await self._dispatch("cancel")

    # --- routing of domain events ---------------------------------------
    async def on_event(self, event: object) -> None:
        if self.done:
            return
        if isinstance(event, LegHungup):
            await self._hung_up(event)
        else:
            await self._on_other_event(event)

    async def _hung_up(self, event: LegHungup) -> None:
        """Someone hung up: the caller, the agent or the third party (anyone else is not ours)."""
        caller_event, agent_event, third_event = self.hangup_events
        if event.leg_id == self.caller_id:
            await getattr(self, caller_event)()
        elif event.leg_id == self.agent_id:
            await getattr(self, agent_event)()
        elif self.third_id and event.leg_id == self.third_id:
            await getattr(self, third_event)(event.cause_txt or "hung up")

    async def _on_other_event(self, event: object) -> None:
        return None

    # --- the caller is never dropped ------------------------------------
    async def fall_back(self, reason: str) -> str:
        """Note why the machine fails and give the caller back (see :meth:`give_back`)."""
        self.reason = reason
        return await self.give_back()

    async def give_back(self) -> str:
        """Return the caller to the agent (plain bridge), else to the IVR; never dropped.
        Returns "agent", "ivr" or "" (the caller is gone, or even the IVR failed)."""
        if not self.alive(self.caller_id):
            self.returned_to = ""
            return ""
        if self.alive(self.agent_id):
            if self._with_agent_already():
                self.returned_to = "agent"
                return "agent"
            try:
                await self.control.bridge(self._name(self.agent_id), self._name(self.caller_id))
                self.returned_to = "agent"
                return "agent"
            except ControlError as e:
                self.log.warning("%s %s: could not return the caller to the agent (%s)", self.label, self.machine_id, e.message)
        try:
            await self.control.redirect(self._name(self.caller_id), self.ivr_context, self.ivr_exten, 1)
            self.returned_to = "ivr"
            return "ivr"
        except ControlError as e:
            self.log.error("%s %s: could not return the caller to the IVR either (%s)", self.label, self.machine_id, e.message)
            self.returned_to = ""
            return ""

    def _with_agent_already(self) -> bool:
        """Whether caller and agent are already together (nothing to bridge)."""
        return False

    async def hang_up_quietly(self, uid: str, channel: str) -> None:
        """Hang up ``channel`` (party ``uid``) if it is still there; a failure means it is gone."""
        if self.alive(uid):
            try:
                await self.control.hangup(channel, 16)
            except ControlError:
                pass


M = TypeVar("M", bound=Machine)


class MachineService(Generic[M]):
    """Starts machines for an agent's call and routes domain events to the active ones
    (the composition root subscribes :meth:`on_event` to the bus for the service's ``EVENTS``)."""

    id_prefix: ClassVar[str]

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
        self.active: dict[str, M] = {}
        self._ids = itertools.count(1)
        self._prefix = f"{self.id_prefix}{secrets.token_hex(3)}"

    def _parties(self, agent: str, caller: str | None) -> tuple[Channel, Channel, str]:
        """The agent's and the caller's channels (by name or Uniqueid; without ``caller``, the
        agent's only peer) and the IVR extension the caller returns to (the call's DNIS)."""
        ag = self.model.resolve(agent)
        if ag is None:
            raise InvalidTransfer(f"unknown agent channel {agent}")
        if caller is None:
            peers = self.model.peers(ag.uniqueid)
            if len(peers) != 1:
                raise InvalidTransfer(f"agent {ag.name} is not in a two-party call")
            cl = peers[0]
        else:
            found = self.model.resolve(caller)
            if found is None:
                raise InvalidTransfer(f"unknown caller channel {caller}")
            cl = found
        call = self.model.calls.get(cl.call_id)
        dnis = call.dnis if call is not None and call.dnis else self.default_ivr_exten
        return ag, cl, dnis

    def _next_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def _launch(self, m: M) -> M:
        self.active[m.machine_id] = m
        await m.start()
        if m.done:
            self.active.pop(m.machine_id, None)
        return m

    async def on_event(self, event: object) -> None:
        for mid, m in list(self.active.items()):
            await m.on_event(event)
            if m.done:
                self.active.pop(mid, None)

    def get(self, machine_id: str) -> M | None:
        return self.active.get(machine_id)
