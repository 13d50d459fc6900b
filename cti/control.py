"""Call control: the AMI actions the IVR, the router and the agent desktop use.

Every method sends one or two AMI actions through :class:`cti.ami.client.AmiClient`
and raises :class:`ControlError` when Asterisk answers ``Response: Error`` (its
texts differ per action and are kept only for the log), when the link is down or
when no response came in time. Facts from the Asterisk 22 captures shape it:

* ``Originate`` is always sent with ``Async: true``: the Response only says
  "queued"; the outcome is the ``OriginateResponse`` *event*, which carries the
  request's ActionID (``Reason`` 4 answered, 3 no answer, 5 busy, 8 congestion,
  1 hung up, 0 anything else, a SIP 486 included). A failed one names the dial
  string, not a channel; pass ``channel_id`` to tie every event of the attempt to
  it (it becomes the new channel's Uniqueid).
* ``BlindTransfer`` works on a bridged channel only ("Transfer invalid" else); the
  channel named is the *transferer* and its bridge peer goes to the target. A
  caller that is not bridged (in the IVR, on hold) is moved with ``Redirect``.
* ``Atxfer`` needs the features.conf ``atxfer`` code and the ``t``/``T`` Dial
  options; it only *starts* the transfer (cti.transfer drives it).
* Hold with music: AMI has no hold action for a bridged party, and a two-party
  bridge dissolves when one party leaves (the other continues its dialplan, which
  for an agent leg means hanging up). ``hold()`` therefore moves both with one
  dual ``Redirect``: the held party to ``hotline-hold,moh,1``
  (``MusicOnHold(default)``), its peer to the park location ``hotline-agent,connect``
  (silence: the dialplan's ``Wait(3600)``, up to an hour; ``hotline-hold,park`` waits
  the same and can be configured instead); ``unhold()`` bridges the two again with ``Bridge``.
* ``Redirect`` with ``ExtraChannel`` moves two channels at once (three-way calls).

Outbound legs the server starts for a call (agent leg, transfer recipient,
conference guest) carry ``HOTLINE_CALL=<call id>`` so the call model counts them
as legs of that call (``call_id=`` argument of :meth:`CallControl.originate`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol

from cti.ami.errors import AmiActionError, AmiError, AmiNotConnected, AmiTimeout
from cti.events import OriginateResult, TransferCompleted, TransferFailed, TransferStarted
from cti.model import CallModel, Publisher, NullPublisher, clean_callerid, utcnow
from hotline.logging import mask_number

log = logging.getLogger("cti.control")

REASON_OUTCOME: Mapping[int, str] = MappingProxyType(
    {4: "answered", 3: "no_answer", 5: "busy", 8: "congestion", 1: "hungup", 0: "failed"}
)


class AmiLike(Protocol):
    """The part of :class:`cti.ami.client.AmiClient` call control uses."""

    @property
    def connected(self) -> bool: ...

    async def action(self, name: str, headers: Any = None, timeout: float | None = None) -> Any: ...

    async def list_action(self, name: str, headers: Any = None, timeout: float | None = None) -> list[Any]: ...

    def subscribe(self, handler: Callable[[Any], Any], *event_names: str) -> Callable[[], None]: ...


class ControlError(Exception):
    """An action failed: ``kind`` is "error" (Asterisk said Error), "timeout" or "not_connected"."""

    def __init__(self, action: str, kind: str, message: str) -> None:
        super().__init__(f"{action} failed ({kind}): {message}")
        self.action = action
        self.kind = kind
        self.message = message


def _control_error(action: str, e: AmiError) -> ControlError:
    """The :class:`ControlError` for an AMI client error raised by ``action``."""
    if isinstance(e, AmiActionError):
        return ControlError(action, "error", e.message)
    if isinstance(e, AmiTimeout):
        return ControlError(action, "timeout", str(e))
    if isinstance(e, AmiNotConnected):
        return ControlError(action, "not_connected", str(e))
    return ControlError(action, "error", str(e))


@dataclass(frozen=True, slots=True)
class ControlConfig:
    hold_context: str = "hotline-hold"
    hold_exten: str = "moh"
    park_context: str = "hotline-agent"  # where the held party's peer waits (silence)
    park_exten: str = "connect"
    ivr_context: str = "hotline-ivr"
    conference_context: str = "hotline-conference"
    action_timeout: float | None = None  # None: the client's default
    originate_margin: float = 10.0  # wait this much beyond the ring timeout for OriginateResponse
    remember_responses: int = 256  # OriginateResponses that arrived before their waiter


@dataclass(frozen=True, slots=True)
class ConferenceMember:
    conference: str
    channel: str
    uniqueid: str
    call_id: str
    caller_num: str
    caller_name: str
    muted: bool
    admin: bool
    marked: bool
    talking: bool
    answered_seconds: int


@dataclass(frozen=True, slots=True)
class ConferenceRoom:
    name: str
    parties: int
    locked: bool
    muted: bool


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    kind: str  # "blind" (BlindTransfer) | "redirect"
    transferee: str
    target: str


@dataclass(eq=False)
class PendingOriginate:
    """An originate in flight: ``await pending.result()`` for its :class:`OriginateResult`."""

    action_id: str
    channel: str
    channel_id: str | None
    deadline: float
    _future: asyncio.Future[OriginateResult] = field(repr=False, default=None)  # type: ignore[assignment]

    async def result(self) -> OriginateResult:
        return await asyncio.shield(self._future)

    def done(self) -> bool:
        return self._future.done()


class CallControl:
    def __init__(
        self,
        client: AmiLike,
        model: CallModel,
        bus: Publisher | None = None,
        *,
        config: ControlConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.model = model
        self.bus = bus or NullPublisher()
        self.config = config or ControlConfig()
        self._clock = clock
        self._waiters: dict[str, PendingOriginate] = {}
        self._early: OrderedDict[str, Any] = OrderedDict()
        self._holds: dict[str, str] = {}  # held uniqueid -> peer uniqueid
        self._unsubscribe: Callable[[], None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._seq = 0

    # ------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to ``OriginateResponse`` (call once, from the composition root)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.client.subscribe(self._on_originate_response, "OriginateResponse")

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for aid, p in list(self._waiters.items()):
            self._finish(p, self._result(aid, False, -1, "error", p.channel, p.channel_id or ""))

    def next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self._seq}"

    async def _act(self, name: str, headers: Any, timeout: float | None = None) -> Any:
        t = timeout if timeout is not None else self.config.action_timeout
        try:
            return await self.client.action(name, headers, timeout=t)
        except AmiError as e:
            if isinstance(e, AmiActionError):
                log.info("%s refused: %s", name, e.message)
            raise _control_error(name, e) from e

    async def _list(self, name: str, headers: Any, timeout: float | None = None) -> list[Any]:
        t = timeout if timeout is not None else self.config.action_timeout
        try:
            return await self.client.list_action(name, headers, timeout=t)
        except AmiError as e:
            raise _control_error(name, e) from e

    # ------------------------------------------------------------------
    # Originate
    # ------------------------------------------------------------------
    async def start_originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        ring_timeout: float = 30.0,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        call_id: str | None = None,
        role: str | None = None,
        account: str | None = None,
    ) -> PendingOriginate:
        """Send an async Originate; returns once Asterisk queued it (raises ControlError if it refused)."""
        if (application is None) == (context is None or exten is None):
            raise ValueError("originate needs either context+exten or application")
        vars_: dict[str, str] = dict(variables or {})
        if call_id:
            vars_["HOTLINE_CALL"] = call_id
        if role:
            vars_["HOTLINE_ROLE"] = role
        headers: list[tuple[str, str]] = [("Channel", channel)]
        if application is not None:
            headers.append(("Application", application))
            if data is not None:
                headers.append(("Data", data))
        else:
            headers += [("Context", context or ""), ("Exten", exten or ""), ("Priority", str(priority))]
        headers.append(("Timeout", str(int(ring_timeout * 1000))))
        if caller_id:
            headers.append(("CallerID", caller_id))
        if account:
            headers.append(("Account", account))
        if channel_id:
            headers.append(("ChannelId", channel_id))
        if other_channel_id:
            headers.append(("OtherChannelId", other_channel_id))
        for k, v in vars_.items():
            headers.append(("Variable", f"{k}={v}"))
        headers.append(("Async", "true"))
        resp = await self._act("Originate", headers)
        aid = resp.fields.get("ActionID") or resp.get("ActionID") or ""
        loop = asyncio.get_running_loop()
        pending = PendingOriginate(
            action_id=aid,
            channel=channel,
            channel_id=channel_id,
            deadline=loop.time() + ring_timeout + self.config.originate_margin,
        )
        pending._future = loop.create_future()
        early = self._early.pop(aid, None)
        if early is not None:
            self._finish(pending, self._from_event(early))
            return pending
        self._waiters[aid] = pending
        self._timers[aid] = loop.call_later(
            ring_timeout + self.config.originate_margin, self._originate_timeout, aid
        )
        log.info("originate %s -> %s queued (ActionID %s)", channel, exten or application, aid)
        return pending

    async def originate(self, channel: str, **kwargs: Any) -> OriginateResult:
        """Originate and wait for the outcome. Never raises for a failed call: the result says why;
        a refused action gives ``outcome="error"``."""
        try:
            pending = await self.start_originate(channel, **kwargs)
        except ControlError as e:
            res = self._result("", False, -1, "error" if e.kind != "not_connected" else "not_connected", channel, kwargs.get("channel_id") or "")
            self.bus.publish(res)
            return res
        return await pending.result()

    def _result(self, aid: str, ok: bool, reason: int, outcome: str, channel: str, uniqueid: str) -> OriginateResult:
        call_id = ""
        if uniqueid:
            ch = self.model.channel(uniqueid)
            if ch is not None:
                call_id = ch.call_id
        return OriginateResult(aid, self._clock(), ok, reason, outcome, channel, uniqueid, call_id)

    def _from_event(self, msg: Any) -> OriginateResult:
        f = msg.fields
        try:
            reason = int(f.get("Reason") or 0)
        except ValueError:
            reason = 0
        ok = f.get("Response") == "Success"
        outcome = "answered" if ok else REASON_OUTCOME.get(reason, "failed")
        if not ok and outcome == "answered":
            outcome = "failed"
        uid = f.get("Uniqueid") or ""
        if uid == "<unknown>":
            uid = ""
        return self._result(f.get("ActionID") or "", ok, reason, outcome, f.get("Channel") or "", uid)

    def _on_originate_response(self, msg: Any) -> None:
        aid = msg.fields.get("ActionID")
        if not aid:
            return
        pending = self._waiters.pop(aid, None)
        if pending is None:
            # arrived before start_originate registered its waiter (or is not ours)
            self._early[aid] = msg
            while len(self._early) > self.config.remember_responses:
                self._early.popitem(last=False)
            return
        self._finish(pending, self._from_event(msg))

    def _originate_timeout(self, aid: str) -> None:
        pending = self._waiters.pop(aid, None)
        if pending is not None:
            self._finish(pending, self._result(aid, False, -1, "timeout", pending.channel, pending.channel_id or ""))

    def _finish(self, pending: PendingOriginate, res: OriginateResult) -> None:
        t = self._timers.pop(pending.action_id, None)
        if t is not None:
            t.cancel()
        self._waiters.pop(pending.action_id, None)
        if not pending._future.done():
            pending._future.set_result(res)
        log.info("originate %s (ActionID %s): %s", pending.channel, pending.action_id, res.outcome)
        self.bus.publish(res)

    # ------------------------------------------------------------------
    # Moving channels
    # ------------------------------------------------------------------
    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        extra_channel: str | None = None,
        extra_context: str | None = None,
        extra_exten: str | None = None,
        extra_priority: int | None = None,
    ) -> None:
        headers: list[tuple[str, str]] = [
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Priority", str(priority)),
        ]
        if extra_channel:
            headers += [
                ("ExtraChannel", extra_channel),
                ("ExtraContext", extra_context or context),
                ("ExtraExten", extra_exten or exten),
                ("ExtraPriority", str(extra_priority if extra_priority is not None else priority)),
            ]
        await self._act("Redirect", headers)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self._act("Hangup", [("Channel", channel), ("Cause", str(cause))])

    async def bridge(self, channel1: str, channel2: str, tone: bool = False) -> None:
        await self._act("Bridge", [("Channel1", channel1), ("Channel2", channel2), ("Tone", "yes" if tone else "no")])

    async def blind_transfer(
        self, channel: str, context: str, exten: str, priority: int = 1, *, transferer: str | None = None
    ) -> TransferOutcome:
        """Send ``channel`` (the party to transfer, normally the caller) to ``context,exten``.

        Bridged with exactly one other party: ``BlindTransfer`` on that party (the transferer,
        normally the agent; Asterisk hangs it up or lets it continue its dialplan). Not bridged,
        or in a multi-party bridge, or if ``BlindTransfer`` is refused: ``Redirect`` of ``channel``.
        Either counts once on the call's CDR: the model counts Asterisk's ``BlindTransfer`` event,
        and a completed ``Redirect`` through :meth:`CallModel.count_transfer`.
        """
        ch = self.model.resolve(channel)
        call_id = ch.call_id if ch else ""
        target = f"{context},{exten}"
        name = ch.name if ch else channel
        peer_name = transferer
        if peer_name is None and ch is not None and ch.bridge_id is not None:
            peers = self.model.peers(ch.uniqueid)
            br = self.model.bridges.get(ch.bridge_id)
            if br is not None and len(br.members) == 2 and len(peers) == 1:
                direct = [self.model.channels[u] for u in br.members if u != ch.uniqueid and u in self.model.channels]
                if direct:
                    peer_name = direct[0].name
        tid = self.next_id("blind")
        self.bus.publish(TransferStarted(call_id, self._clock(), tid, "blind", peer_name or "", name, target))
        if peer_name:
            try:
                await self._act(
                    "BlindTransfer", [("Channel", peer_name), ("Context", context), ("Exten", exten)]
                )
                return TransferOutcome("blind", name, target)
            except ControlError as e:
                if e.kind == "not_connected":
                    self.bus.publish(TransferFailed(call_id, self._clock(), tid, "blind", e.message, ""))
                    raise
                log.info("BlindTransfer refused (%s); redirecting %s instead", e.message, name)
        try:
            await self.redirect(name, context, exten, priority)
        except ControlError as e:
            self.bus.publish(TransferFailed(call_id, self._clock(), tid, "redirect", e.message, ""))
            raise
        # Asterisk reports no transfer for a Redirect: the CDR counts it from here.
        self.model.count_transfer(call_id, tid)
        self.bus.publish(TransferCompleted(call_id, self._clock(), tid, "redirect", name, target))
        return TransferOutcome("redirect", name, target)

    async def atxfer(self, channel: str, context: str, exten: str) -> None:
        """Start an Asterisk-driven attended transfer from ``channel`` (the agent, bridged)."""
        await self._act("Atxfer", [("Channel", channel), ("Context", context), ("Exten", exten)])

    # ------------------------------------------------------------------
    # Hold
    # ------------------------------------------------------------------
    async def hold(self, channel: str) -> str | None:
        """Put ``channel`` on hold with music; returns the peer it was bridged with (or None).

        A two-party bridge dissolves when one party leaves it (the other would continue its
        dialplan, i.e. hang up), so both move at once with one dual ``Redirect``: ``channel`` to
        ``hotline-hold,moh`` and its peer to the park location (``ControlConfig.park_context`` /
        ``park_exten``: ``hotline-agent,connect`` by default, or ``hotline-hold,park``; both wait
        in silence for up to an hour, ``Wait(3600)`` in deploy/asterisk/extensions.conf).
        ``unhold`` bridges them again. Not bridged with exactly one party: only ``channel``
        moves to the music, and None is returned."""
        ch = self.model.resolve(channel)
        peer: Any = None
        if ch is not None and ch.bridge_id is not None:
            br = self.model.bridges.get(ch.bridge_id)
            direct = [u for u in (br.members if br else ()) if u != ch.uniqueid and u in self.model.channels]
            if len(direct) == 1:
                peer = self.model.channels[direct[0]]
        cfg = self.config
        if peer is not None:
            await self.redirect(
                ch.name if ch else channel,
                cfg.hold_context,
                cfg.hold_exten,
                1,
                extra_channel=peer.name,
                extra_context=cfg.park_context,
                extra_exten=cfg.park_exten,
                extra_priority=1,
            )
            assert ch is not None
            self._holds[ch.uniqueid] = peer.uniqueid
            return peer.name
        await self.redirect(ch.name if ch else channel, cfg.hold_context, cfg.hold_exten, 1)
        return None

    async def unhold(self, channel: str, to: str | None = None) -> None:
        """Take ``channel`` off hold: bridge it again with the party it was held from (or ``to``)."""
        ch = self.model.resolve(channel)
        uid = ch.uniqueid if ch else channel
        peer_uid = self._holds.pop(uid, None)
        target = to
        if target is None and peer_uid is not None:
            peer = self.model.channel(peer_uid)
            target = peer.name if peer else None
        if target is None:
            raise ControlError("Bridge", "error", "no party to return to: the held peer is gone")
        await self.bridge(target, ch.name if ch else channel)

    def held_with(self, channel: str) -> str | None:
        ch = self.model.resolve(channel)
        return self._holds.get(ch.uniqueid if ch else channel)

    # ------------------------------------------------------------------
    # Media, variables
    # ------------------------------------------------------------------
    async def send_dtmf(self, channel: str, digits: str, duration_ms: int = 250) -> None:
        for d in digits:
            if d not in "0123456789*#ABCDabcd":
                raise ValueError(f"not a DTMF digit: {d!r}")
            await self._act("PlayDTMF", [("Channel", channel), ("Digit", d), ("Duration", str(duration_ms))])

    async def mixmonitor_start(self, channel: str, path: str, options: str = "") -> str:
        """Record the call mixed to ``path`` (the extension picks the format: .wav is 8 kHz slin)."""
        await self._act("MixMonitor", [("Channel", channel), ("File", path), ("Options", options)])
        return path

    async def mixmonitor_stop(self, channel: str) -> None:
        await self._act("StopMixMonitor", [("Channel", channel)])

    async def setvar(self, channel: str | None, name: str, value: str) -> None:
        headers = [("Variable", name), ("Value", value)]
        if channel:
            headers.insert(0, ("Channel", channel))
        await self._act("Setvar", headers)

    async def getvar(self, channel: str | None, name: str) -> str | None:
        headers = [("Variable", name)]
        if channel:
            headers.insert(0, ("Channel", channel))
        resp = await self._act("Getvar", headers)
        return resp.fields.get("Value")

    # ------------------------------------------------------------------
    # Queues
    # ------------------------------------------------------------------
    async def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        member_name: str | None = None,
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        state_interface: str | None = None,
    ) -> None:
        headers = [("Queue", queue), ("Interface", interface), ("Penalty", str(penalty)), ("Paused", "true" if paused else "false")]
        if member_name:
            headers.append(("MemberName", member_name))
        if state_interface:
            headers.append(("StateInterface", state_interface))
        if paused and reason:
            headers.append(("Reason", reason))
        await self._act("QueueAdd", headers)

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self._act("QueueRemove", [("Queue", queue), ("Interface", interface)])

    async def queue_pause(self, interface: str, paused: bool = True, *, queue: str | None = None, reason: str = "") -> None:
        headers = [("Interface", interface), ("Paused", "true" if paused else "false")]
        if queue:
            headers.append(("Queue", queue))
        if reason:
            headers.append(("Reason", reason))
        await self._act("QueuePause", headers)

    async def queue_penalty(self, interface: str, penalty: int, *, queue: str | None = None) -> None:
        headers = [("Interface", interface), ("Penalty", str(penalty))]
        if queue:
            headers.append(("Queue", queue))
        await self._act("QueuePenalty", headers)

    async def queue_status(self, queue: str | None = None) -> list[Any]:
        return await self._list("QueueStatus", [("Queue", queue)] if queue else [])

    # ------------------------------------------------------------------
    # ConfBridge
    # ------------------------------------------------------------------
    async def conference_rooms(self) -> list[ConferenceRoom]:
        try:
            items = await self._list("ConfbridgeListRooms", [])
        except ControlError as e:
            if e.kind == "error":  # "No active conferences."
                return []
            raise
        return [
            ConferenceRoom(
                name=i.fields.get("Conference") or "",
                parties=int(i.fields.get("Parties") or 0),
                locked=i.fields.get("Locked") == "Yes",
                muted=i.fields.get("Muted") == "Yes",
            )
            for i in items
        ]

    async def conference_list(self, room: str) -> list[ConferenceMember]:
        """The members of ``room`` (``ConfbridgeList``; none if the room does not exist). Each
        member's ``call_id`` is the call the model has it in (the citizen's call for the agent
        leg and the guest too); a caller id Asterisk reports as ``<unknown>`` is ""."""
        try:
            items = await self._list("ConfbridgeList", [("Conference", room)])
        except ControlError as e:
            if e.kind == "error":  # "No active conferences."
                return []
            raise
        out = []
        for i in items:
            f = i.fields
            try:
                answered = int(f.get("AnsweredTime") or 0)
            except ValueError:
                answered = 0
            uid = f.get("Uniqueid") or ""
            out.append(
                ConferenceMember(
                    conference=f.get("Conference") or room,
                    channel=f.get("Channel") or "",
                    uniqueid=uid,
                    # the citizen's call, as the model and every domain event name it: an agent
                    # leg or guest the server originated has a Linkedid of its own
                    call_id=self.model.call_id_of(uid, f.get("Linkedid") or ""),
                    caller_num=clean_callerid(f.get("CallerIDNum")),
                    caller_name=clean_callerid(f.get("CallerIDName")),
                    muted=f.get("Muted") == "Yes",
                    admin=f.get("Admin") == "Yes",
                    marked=f.get("MarkedUser") == "Yes",
                    talking=f.get("Talking") == "Yes",
                    answered_seconds=answered,
                )
            )
        return out

    async def conference_mute(self, room: str, channel: str) -> None:
        await self._act("ConfbridgeMute", [("Conference", room), ("Channel", channel)])

    async def conference_unmute(self, room: str, channel: str) -> None:
        await self._act("ConfbridgeUnmute", [("Conference", room), ("Channel", channel)])

    async def conference_kick(self, room: str, channel: str) -> None:
        await self._act("ConfbridgeKick", [("Conference", room), ("Channel", channel)])

    async def conference_join(self, room: str, channel: str, extra_channel: str | None = None) -> None:
        """Move one or two channels (caller + agent) into ``hotline-conference,<room>``."""
        ctx = self.config.conference_context
        await self.redirect(channel, ctx, room, 1, extra_channel=extra_channel)

    def describe(self, channel: str) -> str:
        """A log-safe description of a channel (caller number masked)."""
        ch = self.model.resolve(channel)
        if ch is None:
            return channel
        return f"{ch.name} ({mask_number(ch.caller_num)})"
