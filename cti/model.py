"""Live call model: AMI events in, Channels and Calls out, typed domain events and CDRs.

``CallModel.handle(msg)`` is subscribed to every AMI event by the composition
root; it runs on every event (about 20 per simple call, a few hundred per
second at peak), so it is a dictionary dispatch on the event name, reads
``msg.fields`` directly and does O(1) work per event.

Grouping and identity (facts from the Asterisk 22 captures, ../shared/asterisk):

* Channels are keyed by ``Uniqueid`` and grouped into calls by ``Linkedid``;
  channel names are only an index (they are reused after an Asterisk
  restart, and ``Rename`` changes them).
* A leg the server originates for a call (agent leg, transfer recipient,
  conference guest) starts with its own Linkedid; the originate carries the
  variable ``HOTLINE_CALL=<call id>`` and the model moves such a fresh call into
  the call it belongs to (published as :class:`CallMerged`, no CDR for it).
  When that call has already ended (the caller hung up as the agent answered,
  a call-back), the leg's call keeps its own CDR with ``part_of`` naming it.
* A call ends when its last live channel hangs up; it then yields exactly one
  :class:`~cti.events.CallRecord` (published in ``CallEnded`` and queued for
  the CDR sink). Ids of closed calls and hung-up channels are remembered (a
  bounded window) so late events never resurrect or duplicate a call.
* DNIS: ``HOTLINE_DNIS`` (set by the inbound dialplan) or else the extension
  of the call's first channel when it starts in an inbound context.
* ``CallRecord.transfers`` counts Asterisk's ``BlindTransfer`` / ``AttendedTransfer``
  events (Result Success) and, through :meth:`CallModel.count_transfer`, the
  transfers the server completes itself (``Redirect``, ``Bridge``), which have no
  such event; never both for one transfer.
* ``DialEnd`` can come twice for one leg (NOANSWER then CANCEL): the first
  status is kept. ConfBridge's announcer channel never sends ``BridgeEnter``:
  parties are counted from ``ConfbridgeJoin``/``Leave``.

``reconcile()`` applies a ``CoreShowChannels`` snapshot after a reconnect: see
its docstring and cti.resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Protocol

from hotline.logging import mask_number

from cti.events import (
    BridgesMerged,
    CallAnswered,
    CallBridged,
    CallDnisKnown,
    CallEnded,
    CallMerged,
    CallerIdChanged,
    CallRecord,
    CallStarted,
    CallUnbridged,
    ConferenceEnded,
    ConferenceJoined,
    ConferenceLeft,
    ConferenceMuteChanged,
    DialEnded,
    DialStarted,
    DtmfReceived,
    HoldEnded,
    HoldStarted,
    LegAdded,
    LegHungup,
    LegRecord,
    LegRenamed,
    LegStateChanged,
    RecordingStarted,
    RecordingStopped,
    TransferCompleted,
    TransferFailed,
)

log = logging.getLogger("cti.model")

LOST_CAUSE_TXT = "lost while disconnected"

STATE_NAMES: Mapping[int, str] = MappingProxyType({
    0: "down",
    1: "rsrvd",
    2: "offhook",
    3: "dialing",
    4: "ring",
    5: "ringing",
    6: "up",
    7: "busy",
    8: "dialing_offhook",
    9: "prering",
})
UP = 6

# Variables the model keeps (VarSet is a third of all events: filter first).
TRACKED_VARS = frozenset(
    {"HOTLINE_DNIS", "HOTLINE_CALL", "HOTLINE_ROLE", "HOTLINE_AFTER", "MIXMONITOR_FILENAME", "CONF_ID"}
)
# What ``Status`` (``Variables: ...``) reports for a variable that is not set: treated as unset.
UNSET_VALUES = frozenset({"", "(null)"})

_BUSY_CAUSES = frozenset({17})
_CONGESTION_CAUSES = frozenset({34, 38, 41, 42, 44})
_FAILED_CAUSES = frozenset({1, 2, 3, 21, 22, 27, 28, 29, 31, 47, 58, 65, 66, 79, 88, 127})
_DIAL_DISPOSITION: Mapping[str, str] = MappingProxyType({
    "BUSY": "BUSY",
    "CONGESTION": "CONGESTION",
    "CHANUNAVAIL": "FAILED",
    "NOANSWER": "NO ANSWER",
})


class CdrSink(Protocol):
    """Where finished calls go (the composition root persists them to calls / call_legs)."""

    async def write(self, record: CallRecord) -> None: ...


class Publisher(Protocol):
    def publish(self, event: object) -> None: ...


class NullPublisher:
    def publish(self, event: object) -> None:
        return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    inbound_contexts: frozenset[str] = frozenset({"hotline-inbound"})
    # Bounded memory of closed call ids / hung-up channel ids (late events, resync races).
    remember_closed: int = 20_000
    cdr_retry_initial: float = 0.5
    cdr_retry_max: float = 30.0


@dataclass(slots=True, eq=False)
class Channel:
    uniqueid: str
    name: str
    call_id: str
    state: int
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str
    context: str
    exten: str
    priority: str
    created_at: datetime
    first_context: str
    first_exten: str
    role: str = "other"
    application: str = ""
    app_data: str = ""
    answered_at: datetime | None = None
    hungup_at: datetime | None = None
    cause: int | None = None
    cause_txt: str = ""
    bridge_id: str | None = None
    on_hold: bool = False
    moh_class: str | None = None
    conference: str | None = None
    muted: bool = False
    recording: str | None = None
    dial_status: str = ""
    dialed_by: str | None = None
    local_peer: str | None = None
    vars: dict[str, str] | None = None
    last_seq: int = 0
    adopted: bool = False

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, str(self.state))

    @property
    def is_local(self) -> bool:
        return self.name.startswith("Local/")

    @property
    def alive(self) -> bool:
        return self.hungup_at is None


@dataclass(slots=True, eq=False)
class Bridge:
    bridge_id: str
    bridge_type: str
    technology: str
    name: str
    creator: str
    created_at: datetime
    members: set[str] = field(default_factory=set)  # uniqueids
    conference: str | None = None


@dataclass(slots=True, eq=False)
class Conference:
    name: str
    bridge_id: str
    started_at: datetime
    members: dict[str, bool] = field(default_factory=dict)  # uniqueid -> muted


@dataclass(slots=True, eq=False)
class Call:
    call_id: str
    started_at: datetime
    first_leg: str
    caller_num: str = ""
    caller_name: str = ""
    dnis: str = ""
    channels: dict[str, Channel] = field(default_factory=dict)  # live legs
    legs: list[Channel] = field(default_factory=list)  # every leg, in order of appearance
    answered_at: datetime | None = None
    connected_at: datetime | None = None  # first time the caller was bridged with another party
    ended_at: datetime | None = None
    talk_since: datetime | None = None
    talk_time: float = 0.0
    recordings: list[str] = field(default_factory=list)
    transfers: int = 0
    server_transfers: set[str] = field(default_factory=set)  # ids of transfers counted by count_transfer
    lost: bool = False
    part_of: str = ""  # HOTLINE_CALL named this call, which had already ended (see CallRecord.part_of)

    @property
    def direction(self) -> str:
        return "inbound" if self.dnis else "outbound"

    @property
    def caller(self) -> Channel | None:
        for leg in self.legs:
            if leg.uniqueid == self.first_leg:
                return leg
        return None


@dataclass(slots=True)
class ReconcileResult:
    closed: int = 0
    added: int = 0
    updated: int = 0
    lost_legs: int = 0
    closed_calls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ModelStats:
    events: int = 0
    calls_started: int = 0
    calls_ended: int = 0
    calls_merged: int = 0
    cdrs_written: int = 0
    cdr_failures: int = 0
    adopted_channels: int = 0
    late_events: int = 0


def seat_of(channel: str) -> str:
    """The seat (endpoint) of a channel name: ``PJSIP/8001-00000019`` -> ``8001``,
    ``Local/8001@agents-robot-00000009;1`` -> ``8001``."""
    rest = channel.partition("/")[2] or channel
    if "@" in rest:
        return rest.partition("@")[0]
    return rest.rpartition("-")[0] or rest


def _state(v: str | None) -> int:
    try:
        return int(v) if v else 0
    except ValueError:
        return 0


def clean_callerid(v: str | None) -> str:
    """A caller id field as the model keeps it: Asterisk's ``<unknown>`` (and a missing one) is ""."""
    return "" if v is None or v == "<unknown>" else v


_clean = clean_callerid


class _Window:
    """A bounded insertion-ordered set (recently closed ids)."""

    __slots__ = ("_d", "_max")

    def __init__(self, maxlen: int) -> None:
        self._d: dict[str, None] = {}
        self._max = maxlen

    def add(self, key: str) -> None:
        d = self._d
        d[key] = None
        if len(d) > self._max:
            del d[next(iter(d))]

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)


class CallModel:
    """The live model of channels, calls, bridges and conferences."""

    def __init__(
        self,
        bus: Publisher | None = None,
        cdr_sink: CdrSink | None = None,
        *,
        config: ModelConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._bus = bus or NullPublisher()
        self._sink = cdr_sink
        self.config = config or ModelConfig()
        self._clock = clock
        self._sleep = sleep
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.bridges: dict[str, Bridge] = {}
        self.conferences: dict[str, Conference] = {}
        self._by_name: dict[str, str] = {}
        self._aliases: dict[str, str] = {}  # merged call id -> call id
        self._closed_calls = _Window(self.config.remember_closed)
        self._hungup = _Window(self.config.remember_closed)
        self._seq = 0
        self.stats = ModelStats()
        self._outbox: deque[CallRecord] = deque()
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._handlers: dict[str, Callable[[dict[str, str], datetime], None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "NewCallerid": self._on_callerid,
            "NewConnectedLine": self._on_callerid,
            "Newexten": self._on_newexten,
            "VarSet": self._on_varset,
            "DialBegin": self._on_dial_begin,
            "DialEnd": self._on_dial_end,
            "Hangup": self._on_hangup,
            "BridgeCreate": self._on_bridge_create,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "BridgeDestroy": self._on_bridge_destroy,
            "BridgeMerge": self._on_bridge_merge,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "MusicOnHoldStart": self._on_moh_start,
            "MusicOnHoldStop": self._on_moh_stop,
            "ConfbridgeStart": self._on_conf_start,
            "ConfbridgeJoin": self._on_conf_join,
            "ConfbridgeLeave": self._on_conf_leave,
            "ConfbridgeEnd": self._on_conf_end,
            "ConfbridgeMute": self._on_conf_mute,
            "ConfbridgeUnmute": self._on_conf_unmute,
            "MixMonitorStart": self._on_mixmon_start,
            "MixMonitorStop": self._on_mixmon_stop,
            "DTMFEnd": self._on_dtmf,
            "Rename": self._on_rename,
            "LocalBridge": self._on_local_bridge,
            "AgentCalled": self._on_agent_called,
            "Shutdown": self._on_shutdown,
        }
        self.restart_pending = False  # Asterisk announced a shutdown; the next resync forgets old ids

    # ------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------
    def handle(self, msg: Any) -> None:
        """Feed one AMI message (events only; responses are ignored)."""
        handler = self._handlers.get(msg.name)
        if handler is None or msg.kind != "Event":
            return
        f = msg.fields
        if "ActionID" in f:  # list items (Status, CoreShowChannel...) are snapshots, not events
            return
        self._seq += 1
        self.stats.events += 1
        ts = f.get("Timestamp")
        if ts:
            try:
                now = datetime.fromtimestamp(float(ts), timezone.utc)
            except ValueError:
                now = self._clock()
        else:
            now = self._clock()
        try:
            handler(f, now)
        except Exception:  # one odd event must never stop the model
            log.exception("call model failed on %s", msg.name)

    __call__ = handle

    def mark(self) -> int:
        """A position in the event stream; pass it to :meth:`reconcile` (see there)."""
        return self._seq

    def channel(self, leg_id: str) -> Channel | None:
        return self.channels.get(leg_id)

    def channel_by_name(self, name: str) -> Channel | None:
        uid = self._by_name.get(name)
        return self.channels.get(uid) if uid else None

    def call(self, call_id: str) -> Call | None:
        return self.calls.get(self._aliases.get(call_id, call_id))

    def call_of(self, channel: str) -> Call | None:
        """The live call of a channel given by name or Uniqueid."""
        ch = self.channels.get(channel) or self.channel_by_name(channel)
        return self.calls.get(ch.call_id) if ch else None

    def resolve(self, channel: str) -> Channel | None:
        return self.channels.get(channel) or self.channel_by_name(channel)

    def peers(self, channel: str) -> list[Channel]:
        """Who this channel is connected to: the other members of its bridge; a Local
        channel's far side is followed one hop (``;1`` bridged here, ``;2`` bridged there)."""
        ch = self.resolve(channel)
        if ch is None or ch.bridge_id is None:
            return []
        br = self.bridges.get(ch.bridge_id)
        if br is None:
            return []
        out: list[Channel] = []
        for uid in br.members:
            if uid == ch.uniqueid:
                continue
            peer = self.channels.get(uid)
            if peer is None:
                continue
            if peer.local_peer:
                other = self.channels.get(peer.local_peer)
                if other is not None and other.bridge_id and other.bridge_id != ch.bridge_id:
                    ob = self.bridges.get(other.bridge_id)
                    if ob is not None:
                        far = [self.channels[u] for u in ob.members if u != other.uniqueid and u in self.channels]
                        if far:
                            out.extend(far)
                            continue
            out.append(peer)
        return out

    def call_id_of(self, leg_id: str, linkedid: str = "") -> str:
        """The call a leg belongs to, as every domain event names it: the model's call id of the
        leg; for a leg the model does not know, ``linkedid`` followed through merged calls (an
        originated leg's own Linkedid names the call it was merged into)."""
        ch = self.channels.get(leg_id)
        if ch is not None:
            return ch.call_id
        return self._aliases.get(linkedid, linkedid)

    def count_transfer(self, call_id: str, transfer_id: str) -> bool:
        """Count a transfer the server carried out itself on the call's CDR (``CallRecord.transfers``).

        Asterisk reports ``BlindTransfer`` / ``AttendedTransfer`` only for transfers it performs
        (those the model counts from the events); a caller moved with ``Redirect`` or joined with
        the recipient by ``Bridge`` leaves no such event, so call control and the transfer machine
        report those here when they complete. Each ``transfer_id`` counts once. Returns whether it
        was counted (False: unknown or ended call, or already counted)."""
        call = self.call(call_id)
        if call is None or transfer_id in call.server_transfers:
            return False
        call.server_transfers.add(transfer_id)
        call.transfers += 1
        return True

    def is_bridged(self, channel: str) -> bool:
        ch = self.resolve(channel)
        return ch is not None and ch.bridge_id is not None

    @property
    def live_calls(self) -> int:
        return len(self.calls)

    # --- CDR writer ---------------------------------------------------
    async def start(self) -> None:
        """Start the CDR writer task (records finished before start are kept and written)."""
        if self._writer is not None:
            return
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        if self._outbox:
            self._wake.set()
        else:
            self._idle.set()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="cti.model.cdr")

    async def stop(self, timeout: float = 5.0) -> None:
        """Flush pending CDRs (up to ``timeout``) and stop the writer."""
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except asyncio.TimeoutError:
            log.error("CDR writer stopped with %d records unwritten", len(self._outbox))
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass
        self._writer = None

    async def flush(self) -> None:
        """Wait until every finished call so far has been written to the sink."""
        if self._writer is None or self._idle is None:
            return
        while self._outbox:
            self._idle.clear()
            if self._wake is not None:
                self._wake.set()
            await self._idle.wait()

    @property
    def pending_cdrs(self) -> int:
        return len(self._outbox)

    async def _write_loop(self) -> None:
        assert self._wake is not None and self._idle is not None
        backoff = self.config.cdr_retry_initial
        while True:
            if not self._outbox:
                self._idle.set()
                await self._wake.wait()
                self._wake.clear()
                continue
            rec = self._outbox[0]
            if self._sink is None:
                self._outbox.popleft()
                continue
            try:
                await self._sink.write(rec)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.cdr_failures += 1
                log.exception("CDR write failed for call %s; retrying in %.1fs", rec.call_id, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.config.cdr_retry_max)
                continue
            backoff = self.config.cdr_retry_initial
            self._outbox.popleft()
            self.stats.cdrs_written += 1

    # ------------------------------------------------------------------
    # channel bookkeeping
    # ------------------------------------------------------------------
    def _publish(self, event: object) -> None:
        self._bus.publish(event)

    def _get(self, f: dict[str, str], now: datetime, prefix: str = "") -> Channel | None:
        """The channel an event is about; unknown live channels are adopted (connected mid-call)."""
        uid = f.get(prefix + "Uniqueid")
        if not uid:
            return None
        ch = self.channels.get(uid)
        if ch is not None:
            ch.last_seq = self._seq
            return ch
        if uid in self._hungup or not f.get(prefix + "Linkedid"):
            self.stats.late_events += 1
            return None
        ch = self._create(f, now, prefix, adopted=True)
        return ch

    def _create(self, f: Mapping[str, str], now: datetime, prefix: str = "", adopted: bool = False) -> Channel | None:
        uid = f.get(prefix + "Uniqueid") or ""
        linkedid = f.get(prefix + "Linkedid") or uid
        linkedid = self._aliases.get(linkedid, linkedid)
        if linkedid in self._closed_calls:
            self.stats.late_events += 1
            return None
        name = f.get(prefix + "Channel") or ""
        context = f.get(prefix + "Context") or ""
        exten = f.get(prefix + "Exten") or ""
        ch = Channel(
            uniqueid=uid,
            name=name,
            call_id=linkedid,
            state=_state(f.get(prefix + "ChannelState")),
            caller_num=_clean(f.get(prefix + "CallerIDNum")),
            caller_name=_clean(f.get(prefix + "CallerIDName")),
            connected_num=_clean(f.get(prefix + "ConnectedLineNum")),
            connected_name=_clean(f.get(prefix + "ConnectedLineName")),
            context=context,
            exten=exten,
            priority=f.get(prefix + "Priority") or "",
            created_at=now,
            first_context=context,
            first_exten=exten,
            last_seq=self._seq,
            adopted=adopted,
        )
        if ch.state == UP:
            ch.answered_at = now
        if adopted:
            self.stats.adopted_channels += 1
        self.channels[uid] = ch
        if name:
            self._by_name[name] = uid
        call = self.calls.get(linkedid)
        new_call = call is None
        if call is None:
            call = Call(call_id=linkedid, started_at=now, first_leg=uid)
            self.calls[linkedid] = call
            self.stats.calls_started += 1
        if uid == call.first_leg:
            ch.role = "caller"
            call.caller_num = ch.caller_num
            call.caller_name = ch.caller_name
            if context in self.config.inbound_contexts and exten and exten != "s":
                call.dnis = exten
        elif ch.is_local:
            ch.role = "local"
        call.channels[uid] = ch
        call.legs.append(ch)
        if new_call:
            log.info(
                "call %s started on %s from %s dnis=%s",
                linkedid,
                name,
                mask_number(call.caller_num),
                call.dnis,
            )
            self._publish(
                CallStarted(linkedid, now, name, uid, call.caller_num, call.caller_name, call.dnis, context, exten)
            )
        self._publish(LegAdded(linkedid, now, uid, name, ch.role, ch.state_name, ch.caller_num, ch.caller_name))
        if call.answered_at is None and ch.state == UP and uid == call.first_leg:
            call.answered_at = now
            self._publish(CallAnswered(linkedid, now, name, uid))
        return ch

    # ------------------------------------------------------------------
    # handlers
    # ------------------------------------------------------------------
    def _on_newchannel(self, f: dict[str, str], now: datetime) -> None:
        uid = f.get("Uniqueid")
        if not uid or uid in self.channels:
            return
        if uid in self._hungup:
            self.stats.late_events += 1
            return
        self._create(f, now)

    def _on_newstate(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        st = _state(f.get("ChannelState"))
        if st == ch.state:
            return
        old = ch.state_name
        ch.state = st
        call = self.calls.get(ch.call_id)
        if call is None:
            return
        self._publish(LegStateChanged(call.call_id, now, ch.uniqueid, ch.name, old, ch.state_name))
        if st == UP:
            if ch.answered_at is None:
                ch.answered_at = now
            if call.answered_at is None and ch.uniqueid == call.first_leg:
                call.answered_at = now
                self._publish(CallAnswered(call.call_id, now, ch.name, ch.uniqueid))

    def _on_callerid(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        num, name = _clean(f.get("CallerIDNum")), _clean(f.get("CallerIDName"))
        cnum, cname = _clean(f.get("ConnectedLineNum")), _clean(f.get("ConnectedLineName"))
        if (num, name, cnum, cname) == (ch.caller_num, ch.caller_name, ch.connected_num, ch.connected_name):
            return
        ch.caller_num, ch.caller_name, ch.connected_num, ch.connected_name = num, name, cnum, cname
        call = self.calls.get(ch.call_id)
        if call is None:
            return
        if ch.uniqueid == call.first_leg:
            call.caller_num, call.caller_name = num, name
        self._publish(CallerIdChanged(call.call_id, now, ch.uniqueid, ch.name, num, name, cnum, cname))

    def _on_newexten(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        ch.context = f.get("Context") or ch.context
        ch.exten = f.get("Exten") or ch.exten
        ch.priority = f.get("Priority") or ch.priority
        ch.application = f.get("Application") or ""
        ch.app_data = f.get("AppData") or ""
        call = self.calls.get(ch.call_id)
        if (
            call is not None
            and not call.dnis
            and ch.uniqueid == call.first_leg
            and ch.context in self.config.inbound_contexts
            and ch.exten
            and ch.exten != "s"
        ):
            call.dnis = ch.exten
            self._publish(CallDnisKnown(call.call_id, now, ch.exten))

    def _on_varset(self, f: dict[str, str], now: datetime) -> None:
        var = f.get("Variable") or ""
        if var not in TRACKED_VARS:
            var = var.lstrip("_")
            if var not in TRACKED_VARS:
                return
        ch = self._get(f, now)
        if ch is None:
            return
        self._set_var(ch, var, f.get("Value") or "", now)

    def _set_var(self, ch: Channel, var: str, value: str, now: datetime) -> None:
        if ch.vars is None:
            ch.vars = {}
        ch.vars[var] = value
        call = self.calls.get(ch.call_id)
        if call is None:
            return
        if var == "HOTLINE_DNIS" and value and call.dnis != value:
            call.dnis = value
            self._publish(CallDnisKnown(call.call_id, now, value))
        elif var == "HOTLINE_CALL" and value:
            self._merge(call, value, now)
        elif var == "HOTLINE_ROLE" and value:
            ch.role = value
        elif var == "MIXMONITOR_FILENAME":
            ch.recording = value

    def _merge(self, call: Call, target_id: str, now: datetime) -> None:
        """Move a fresh originated call into the call it serves (its legs become legs of that call)."""
        target_id = self._aliases.get(target_id, target_id)
        if target_id == call.call_id:
            return
        target = self.calls.get(target_id)
        if target is None:
            # The call it serves has ended (the caller hung up as the agent answered; a call-back):
            # it keeps a record of its own, which says whose legs these are.
            log.info("call %s names HOTLINE_CALL=%s which is not live; its record is part of that call", call.call_id, target_id)
            call.part_of = target_id
            return
        del self.calls[call.call_id]
        self.stats.calls_merged += 1
        self.stats.calls_started -= 1
        self._aliases[call.call_id] = target_id
        if len(self._aliases) > self.config.remember_closed:
            del self._aliases[next(iter(self._aliases))]
        moved: list[str] = []
        for leg in call.legs:
            leg.call_id = target_id
            leg.role = _served_role(leg)
            target.legs.append(leg)
            if leg.alive:
                target.channels[leg.uniqueid] = leg
            moved.append(leg.uniqueid)
        target.recordings.extend(call.recordings)
        target.transfers += call.transfers
        target.server_transfers |= call.server_transfers
        self._publish(CallMerged(call.call_id, now, target_id, tuple(moved)))
        self._update_talk_for(moved, now)

    def _on_dial_begin(self, f: dict[str, str], now: datetime) -> None:
        dest = self._get(f, now, "Dest")
        if dest is None:
            return
        src = self._get(f, now) if f.get("Uniqueid") else None
        if src is not None:
            dest.dialed_by = src.uniqueid
            if dest.role == "other":
                dest.role = "dialled"
        self._publish(
            DialStarted(
                dest.call_id,
                now,
                src.uniqueid if src else "",
                dest.uniqueid,
                dest.name,
                f.get("DialString") or "",
            )
        )

    def _on_dial_end(self, f: dict[str, str], now: datetime) -> None:
        dest = self._get(f, now, "Dest")
        if dest is None:
            return
        status = f.get("DialStatus") or ""
        if dest.dial_status:  # DialEnd can come twice (NOANSWER then CANCEL): keep the first
            return
        dest.dial_status = status
        self._publish(DialEnded(dest.call_id, now, f.get("Uniqueid") or "", dest.uniqueid, dest.name, status))

    def _on_agent_called(self, f: dict[str, str], now: datetime) -> None:
        dest = self._get(f, now, "Dest")
        if dest is not None and dest.role in ("other", "dialled", "local"):
            dest.role = "agent"

    def _on_local_bridge(self, f: dict[str, str], now: datetime) -> None:
        one = self._get(f, now, "LocalOne")
        two = self._get(f, now, "LocalTwo")
        if one is not None and two is not None:
            one.local_peer = two.uniqueid
            two.local_peer = one.uniqueid

    def _on_shutdown(self, f: dict[str, str], now: datetime) -> None:
        self.restart_pending = True

    def _on_rename(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        new = f.get("Newname")
        if ch is None or not new:
            return
        old = ch.name
        if self._by_name.get(old) == ch.uniqueid:
            del self._by_name[old]
        ch.name = new
        self._by_name[new] = ch.uniqueid
        self._publish(LegRenamed(ch.call_id, now, ch.uniqueid, old, new))

    def _on_hangup(self, f: dict[str, str], now: datetime) -> None:
        uid = f.get("Uniqueid")
        if not uid:
            return
        ch = self.channels.get(uid)
        if ch is None:
            # Never seen (or already gone): remember it, so a snapshot taken before this
            # hang-up cannot adopt it afterwards.
            self.stats.late_events += 1
            self._hungup.add(uid)
            return
        cause_s = f.get("Cause")
        try:
            cause: int | None = int(cause_s) if cause_s else None
        except ValueError:
            cause = None
        self._hangup(ch, cause, f.get("Cause-txt") or "", now)

    def _hangup(self, ch: Channel, cause: int | None, cause_txt: str, now: datetime, lost: bool = False) -> None:
        uid = ch.uniqueid
        ch.hungup_at = now
        ch.cause = cause
        ch.cause_txt = cause_txt
        del self.channels[uid]
        self._hungup.add(uid)
        if self._by_name.get(ch.name) == uid:
            del self._by_name[ch.name]
        if ch.bridge_id is not None:
            br = self.bridges.get(ch.bridge_id)
            ch.bridge_id = None
            if br is not None:
                br.members.discard(uid)
                self._update_talk_for(br.members, now)
        if ch.conference is not None:
            conf = self.conferences.get(ch.conference)
            if conf is not None:
                conf.members.pop(uid, None)
        call = self.calls.get(ch.call_id)
        if call is None:
            return
        call.channels.pop(uid, None)
        if uid == call.first_leg:
            self._set_talk(call, False, now)
        self._publish(LegHungup(call.call_id, now, uid, ch.name, cause, cause_txt))
        if lost:
            call.lost = True
        if not call.channels:
            self._close(call, now)

    def _close(self, call: Call, now: datetime) -> None:
        self._set_talk(call, False, now)
        call.ended_at = now
        del self.calls[call.call_id]
        self._closed_calls.add(call.call_id)
        self.stats.calls_ended += 1
        rec = self._record(call)
        log.info(
            "call %s ended: %s, %.1fs, talk %.1fs, %d legs%s",
            call.call_id,
            rec.disposition,
            rec.duration,
            rec.talk_time,
            len(rec.legs),
            " (lost while disconnected)" if call.lost else "",
        )
        self._publish(CallEnded(call.call_id, now, rec))
        if self._sink is not None:
            self._outbox.append(rec)
            if self._wake is not None:
                self._wake.set()

    def _record(self, call: Call) -> CallRecord:
        assert call.ended_at is not None
        first = call.caller
        legs = tuple(
            LegRecord(
                leg_id=c.uniqueid,
                channel=c.name,
                role=_served_role(c) if call.part_of else c.role,
                caller_num=c.caller_num,
                caller_name=c.caller_name,
                connected_num=c.connected_num,
                connected_name=c.connected_name,
                context=c.first_context,
                exten=c.first_exten,
                created_at=c.created_at,
                answered_at=c.answered_at,
                hungup_at=c.hungup_at or call.ended_at,
                hangup_cause=c.cause,
                hangup_cause_txt=c.cause_txt,
                dial_status=c.dial_status,
            )
            for c in call.legs
        )
        cause = first.cause if first else None
        cause_txt = first.cause_txt if first else ""
        agent = ""
        for c in call.legs:
            if c.role == "agent" and (c.answered_at is not None or c.dial_status == "ANSWER"):
                agent = seat_of(c.name)
                break
        return CallRecord(
            call_id=call.call_id,
            dnis=call.dnis,
            direction=call.direction,
            caller_num=call.caller_num,
            caller_name=call.caller_name,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            connected_at=call.connected_at,
            agent=agent,
            duration=max(0.0, (call.ended_at - call.started_at).total_seconds()),
            talk_time=round(call.talk_time, 3),
            disposition=self._disposition(call, first),
            hangup_cause=cause,
            hangup_cause_txt=cause_txt,
            legs=legs,
            recordings=tuple(call.recordings),
            transfers=call.transfers,
            lost=call.lost,
            part_of=call.part_of,
        )

    @staticmethod
    def _disposition(call: Call, first: Channel | None) -> str:
        if call.answered_at is not None:
            return "ANSWERED"
        if first is not None:
            d = _DIAL_DISPOSITION.get(first.dial_status)
            c = first.cause
            if d == "NO ANSWER" and c in _BUSY_CAUSES | _CONGESTION_CAUSES:
                # an originated Local pair reports NOANSWER whenever its ;2 hangs up unanswered; a ;2
                # that dialled a busy or congested line ends with that line's cause, which says more
                return "BUSY" if c in _BUSY_CAUSES else "CONGESTION"
            if d:
                return d
            if c in _BUSY_CAUSES:
                return "BUSY"
            if c in _CONGESTION_CAUSES:
                return "CONGESTION"
            if c in _FAILED_CAUSES:
                return "FAILED"
        return "NO ANSWER"

    # --- talk time: the caller leg bridged with at least one other party ---
    def _set_talk(self, call: Call, talking: bool, now: datetime) -> None:
        if talking:
            if call.talk_since is None:
                call.talk_since = now
                if call.connected_at is None:
                    call.connected_at = now
        elif call.talk_since is not None:
            call.talk_time += (now - call.talk_since).total_seconds()
            call.talk_since = None

    def _update_talk_for(self, uids: Iterable[str], now: datetime) -> None:
        for uid in list(uids):
            ch = self.channels.get(uid)
            if ch is None:
                continue
            call = self.calls.get(ch.call_id)
            if call is None or call.first_leg != uid:
                continue
            br = self.bridges.get(ch.bridge_id) if ch.bridge_id else None
            self._set_talk(call, br is not None and len(br.members) >= 2, now)

    # --- bridges -------------------------------------------------------
    def _bridge(self, f: Mapping[str, str], now: datetime, prefix: str = "Bridge") -> Bridge | None:
        bid = f.get(prefix + "Uniqueid") or f.get(prefix + "Id") or ""
        if not bid:
            return None
        br = self.bridges.get(bid)
        if br is None:
            br = Bridge(
                bridge_id=bid,
                bridge_type=f.get(prefix + "Type") or "",
                technology=f.get(prefix + "Technology") or "",
                name=_clean(f.get(prefix + "Name")),
                creator=_clean(f.get(prefix + "Creator")),
                created_at=now,
            )
            self.bridges[bid] = br
        return br

    def _on_bridge_create(self, f: dict[str, str], now: datetime) -> None:
        self._bridge(f, now)

    def _on_bridge_enter(self, f: dict[str, str], now: datetime) -> None:
        br = self._bridge(f, now)
        ch = self._get(f, now)
        if br is None or ch is None:
            return
        self._enter(ch, br, now)

    def _enter(self, ch: Channel, br: Bridge, now: datetime) -> None:
        if ch.bridge_id is not None and ch.bridge_id != br.bridge_id:
            old = self.bridges.get(ch.bridge_id)
            if old is not None:
                old.members.discard(ch.uniqueid)
                self._update_talk_for(old.members, now)
        ch.bridge_id = br.bridge_id
        br.members.add(ch.uniqueid)
        self._update_talk_for(br.members, now)
        peers = tuple(u for u in br.members if u != ch.uniqueid)
        self._publish(CallBridged(ch.call_id, now, br.bridge_id, ch.uniqueid, ch.name, peers, br.bridge_type))

    def _on_bridge_leave(self, f: dict[str, str], now: datetime) -> None:
        bid = f.get("BridgeUniqueid") or ""
        ch = self._get(f, now)
        if ch is None:
            return
        br = self.bridges.get(bid)
        if br is not None:
            br.members.discard(ch.uniqueid)
        if ch.bridge_id == bid:
            ch.bridge_id = None
            self._update_talk_for((ch.uniqueid,), now)
            call = self.calls.get(ch.call_id)
            if call is not None and call.first_leg == ch.uniqueid:
                self._set_talk(call, False, now)
            self._publish(CallUnbridged(ch.call_id, now, bid, ch.uniqueid, ch.name))
        if br is not None:
            self._update_talk_for(br.members, now)

    def _on_bridge_destroy(self, f: dict[str, str], now: datetime) -> None:
        bid = f.get("BridgeUniqueid") or ""
        br = self.bridges.pop(bid, None)
        if br is None:
            return
        for uid in br.members:
            ch = self.channels.get(uid)
            if ch is not None and ch.bridge_id == bid:
                ch.bridge_id = None
                self._update_talk_for((uid,), now)
                call = self.calls.get(ch.call_id)
                if call is not None and call.first_leg == uid:
                    self._set_talk(call, False, now)

    def _on_bridge_merge(self, f: dict[str, str], now: datetime) -> None:
        src = self.bridges.get(f.get("FromBridgeUniqueid") or "")
        dst = self._bridge(f, now, "ToBridge")
        if dst is None:
            return
        if src is not None:
            for uid in list(src.members):
                ch = self.channels.get(uid)
                if ch is not None:
                    self._enter(ch, dst, now)
        self._publish(BridgesMerged(now, f.get("FromBridgeUniqueid") or "", dst.bridge_id))

    # --- transfers -----------------------------------------------------
    def _on_blind_transfer(self, f: dict[str, str], now: datetime) -> None:
        transferee = self._get(f, now, "Transferee")
        call_id = transferee.call_id if transferee else (f.get("TransfereeLinkedid") or "")
        target = f"{f.get('Context') or ''},{f.get('Extension') or ''}"
        if f.get("Result") == "Success":
            call = self.calls.get(call_id)
            if call is not None:
                call.transfers += 1
            self._publish(TransferCompleted(call_id, now, "", "blind", f.get("TransfereeChannel") or "", target))
        else:
            self._publish(TransferFailed(call_id, now, "", "blind", f.get("Result") or "", ""))

    def _on_attended_transfer(self, f: dict[str, str], now: datetime) -> None:
        transferee = self._get(f, now, "Transferee")
        call_id = transferee.call_id if transferee else (f.get("TransfereeLinkedid") or "")
        target = f.get("TransferTargetChannel") or f.get("DestApp") or f.get("DestBridgeUniqueid") or ""
        if f.get("Result") == "Success":
            call = self.calls.get(call_id)
            if call is not None:
                call.transfers += 1
            self._publish(TransferCompleted(call_id, now, "", "attended", f.get("TransfereeChannel") or "", target))
        else:
            self._publish(TransferFailed(call_id, now, "", "attended", f.get("Result") or "", ""))

    # --- hold, music, DTMF, recording ---------------------------------------
    def _on_hold(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None or ch.on_hold:
            return
        ch.on_hold = True
        self._publish(HoldStarted(ch.call_id, now, ch.uniqueid, ch.name, f.get("MusicClass") or ""))

    def _on_unhold(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None or not ch.on_hold:
            return
        ch.on_hold = False
        self._publish(HoldEnded(ch.call_id, now, ch.uniqueid, ch.name))

    def _on_moh_start(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        ch.moh_class = f.get("Class") or "default"
        self._publish(HoldStarted(ch.call_id, now, ch.uniqueid, ch.name, ch.moh_class))

    def _on_moh_stop(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None or ch.moh_class is None:
            return
        ch.moh_class = None
        self._publish(HoldEnded(ch.call_id, now, ch.uniqueid, ch.name))

    def _on_dtmf(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        try:
            ms = int(f.get("DurationMs") or 0)
        except ValueError:
            ms = 0
        self._publish(DtmfReceived(ch.call_id, now, ch.uniqueid, ch.name, f.get("Digit") or "", ms, f.get("Direction") or ""))

    def _on_mixmon_start(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        path = ch.recording or (ch.vars or {}).get("MIXMONITOR_FILENAME", "")
        ch.recording = path
        call = self.calls.get(ch.call_id)
        if call is not None and path and path not in call.recordings:
            call.recordings.append(path)
        self._publish(RecordingStarted(ch.call_id, now, ch.uniqueid, ch.name, path))

    def _on_mixmon_stop(self, f: dict[str, str], now: datetime) -> None:
        ch = self._get(f, now)
        if ch is None:
            return
        self._publish(RecordingStopped(ch.call_id, now, ch.uniqueid, ch.name, ch.recording or ""))

    # --- ConfBridge --------------------------------------------------------
    def _conf(self, f: dict[str, str], now: datetime) -> Conference | None:
        name = f.get("Conference")
        if not name:
            return None
        conf = self.conferences.get(name)
        if conf is None:
            conf = Conference(name=name, bridge_id=f.get("BridgeUniqueid") or "", started_at=now)
            self.conferences[name] = conf
        br = self._bridge(f, now)
        if br is not None:
            br.conference = name
        return conf

    def _on_conf_start(self, f: dict[str, str], now: datetime) -> None:
        self._conf(f, now)

    def _on_conf_join(self, f: dict[str, str], now: datetime) -> None:
        conf = self._conf(f, now)
        ch = self._get(f, now)
        if conf is None or ch is None:
            return
        muted = f.get("Muted") == "Yes"
        conf.members[ch.uniqueid] = muted
        ch.conference = conf.name
        ch.muted = muted
        self._publish(ConferenceJoined(ch.call_id, now, conf.name, ch.uniqueid, ch.name, muted, f.get("Admin") == "Yes"))

    def _on_conf_leave(self, f: dict[str, str], now: datetime) -> None:
        conf = self.conferences.get(f.get("Conference") or "")
        ch = self._get(f, now)
        if ch is None:
            return
        if conf is not None:
            conf.members.pop(ch.uniqueid, None)
        ch.conference = None
        ch.muted = False
        self._publish(ConferenceLeft(ch.call_id, now, f.get("Conference") or "", ch.uniqueid, ch.name))

    def _on_conf_end(self, f: dict[str, str], now: datetime) -> None:
        name = f.get("Conference") or ""
        if self.conferences.pop(name, None) is not None:
            self._publish(ConferenceEnded(now, name))

    def _on_conf_mute(self, f: dict[str, str], now: datetime) -> None:
        self._conf_set_mute(f, now, True)

    def _on_conf_unmute(self, f: dict[str, str], now: datetime) -> None:
        self._conf_set_mute(f, now, False)

    def _conf_set_mute(self, f: dict[str, str], now: datetime, muted: bool) -> None:
        conf = self._conf(f, now)
        ch = self._get(f, now)
        if conf is None or ch is None:
            return
        conf.members[ch.uniqueid] = muted
        ch.muted = muted
        self._publish(ConferenceMuteChanged(ch.call_id, now, conf.name, ch.uniqueid, ch.name, muted))

    # ------------------------------------------------------------------
    # resync
    # ------------------------------------------------------------------
    def reconcile(self, snapshot: Iterable[Any], since: int | None = None) -> ReconcileResult:
        """Apply a ``CoreShowChannels`` snapshot (its ``CoreShowChannel`` items).

        * Known channels in the snapshot are corrected (state, name, caller id, bridge).
        * Channels in the snapshot the model does not know are added (adopted), unless
          they hung up since the snapshot was taken (remembered ids): none duplicated.
        * Channels the model has but the snapshot lacks are hung up in the model with
          cause ``lost while disconnected``, so their calls close and yield their CDR.
          Only channels whose last event is at or before ``since`` (take it with
          :meth:`mark` before sending ``CoreShowChannels``) are hung up: a channel
          created after the snapshot was taken is still alive although absent from it.
        """
        now = self._clock()
        res = ReconcileResult()
        present: set[str] = set()
        bridge_members: dict[str, set[str]] = {}
        for item in snapshot:
            f = getattr(item, "fields", item)
            uid = f.get("Uniqueid")
            if not uid:
                continue
            present.add(uid)
            ch = self.channels.get(uid)
            if ch is None:
                if uid in self._hungup:
                    continue
                ch = self._create(f, now, adopted=True)
                if ch is None:
                    continue
                ch.application = f.get("Application") or ""
                ch.app_data = f.get("ApplicationData") or ""
                res.added += 1
            elif since is not None and ch.last_seq > since:
                continue  # the model saw events newer than the snapshot: keep its view
            else:
                changed = False
                st = _state(f.get("ChannelState"))
                if st != ch.state:
                    old = ch.state_name
                    ch.state = st
                    changed = True
                    call = self.calls.get(ch.call_id)
                    if call is not None:
                        self._publish(LegStateChanged(call.call_id, now, uid, ch.name, old, ch.state_name))
                        if st == UP and call.answered_at is None and uid == call.first_leg:
                            call.answered_at = now
                            self._publish(CallAnswered(call.call_id, now, ch.name, uid))
                    if st == UP and ch.answered_at is None:
                        ch.answered_at = now
                name = f.get("Channel")
                if name and name != ch.name:
                    if self._by_name.get(ch.name) == uid:
                        del self._by_name[ch.name]
                    self._publish(LegRenamed(ch.call_id, now, uid, ch.name, name))
                    ch.name = name
                    self._by_name[name] = uid
                    changed = True
                ctx, ext = f.get("Context"), f.get("Exten")
                if ctx and (ctx, ext) != (ch.context, ch.exten):
                    ch.context, ch.exten = ctx, ext or ch.exten
                app = f.get("Application")
                if app is not None:
                    ch.application = app
                    ch.app_data = f.get("ApplicationData") or ""
                if changed:
                    res.updated += 1
            bid = f.get("BridgeId") or f.get("BridgeID") or ""
            if bid:
                bridge_members.setdefault(bid, set()).add(uid)
            elif ch.bridge_id is not None and ch.last_seq <= (since if since is not None else self._seq):
                br = self.bridges.get(ch.bridge_id)
                if br is not None:
                    br.members.discard(uid)
                    self._update_talk_for(br.members, now)
                self._publish(CallUnbridged(ch.call_id, now, ch.bridge_id, uid, ch.name))
                ch.bridge_id = None
                self._update_talk_for((uid,), now)
        for bid, members in bridge_members.items():
            br = self.bridges.get(bid)
            if br is None:
                br = Bridge(bid, "", "", "", "", now)
                self.bridges[bid] = br
            for uid in members:
                ch = self.channels.get(uid)
                if ch is not None and ch.bridge_id != bid:
                    self._enter(ch, br, now)
        limit = since if since is not None else self._seq
        for uid, ch in list(self.channels.items()):
            if uid in present or ch.last_seq > limit:
                continue
            call_id = ch.call_id
            res.lost_legs += 1
            self._hangup(ch, None, LOST_CAUSE_TXT, now, lost=True)
            if call_id not in self.calls and call_id in self._closed_calls:
                res.closed += 1
                res.closed_calls.append(call_id)
        for bid, br in list(self.bridges.items()):
            if bid not in bridge_members and not br.members and br.conference is None:
                del self.bridges[bid]
        return res

    def forget_ended(self) -> None:
        """Forget the ids of ended calls and channels (after an Asterisk restart: its Uniqueids
        start again, and a new channel may reuse an old id within the same second)."""
        self._hungup = _Window(self.config.remember_closed)
        self._closed_calls = _Window(self.config.remember_closed)
        self._aliases.clear()
        self.restart_pending = False

    def apply_variables(self, items: Iterable[Any]) -> int:
        """Apply the tracked variables of ``Status`` items (``Variables: HOTLINE_CALL,...``):
        after a resync adopted channels whose VarSet events were missed, this moves an
        originated leg into the call it serves. Returns how many calls were merged.

        Asterisk reports a variable that is not set on the channel as ``NAME=(null)``; that
        value, like an empty one, means "unset" and is not stored (a leg never gets the role
        "(null)", nor is it merged into a call named "(null)")."""
        now = self._clock()
        before = self.stats.calls_merged
        for it in items:
            f = getattr(it, "fields", it)
            ch = self.channels.get(f.get("Uniqueid") or "")
            if ch is None:
                continue
            values = it.get_all("Variable") if hasattr(it, "get_all") else [f.get("Variable") or ""]
            for kv in values:
                var, sep, value = kv.partition("=")
                var = var.strip().lstrip("_")
                if value in UNSET_VALUES:
                    continue
                if sep and var in TRACKED_VARS and (ch.vars or {}).get(var) != value:
                    self._set_var(ch, var, value, now)
        return self.stats.calls_merged - before

    def reconcile_conferences(self, rooms: Mapping[str, Iterable[Any]]) -> tuple[int, int]:
        """Apply ``ConfbridgeListRooms`` + ``ConfbridgeList`` results: room name -> member items.
        Returns (rooms added, rooms removed)."""
        now = self._clock()
        added = removed = 0
        for name in list(self.conferences):
            if name not in rooms:
                del self.conferences[name]
                removed += 1
                self._publish(ConferenceEnded(now, name))
        for name, items in rooms.items():
            conf = self.conferences.get(name)
            if conf is None:
                conf = Conference(name=name, bridge_id="", started_at=now)
                self.conferences[name] = conf
                added += 1
            members: dict[str, bool] = {}
            for item in items:
                f = getattr(item, "fields", item)
                uid = f.get("Uniqueid")
                if not uid:
                    continue
                ch = self.channels.get(uid)
                muted = f.get("Muted") == "Yes"
                members[uid] = muted
                if ch is not None:
                    ch.conference = name
                    ch.muted = muted
                    if not conf.bridge_id and ch.bridge_id:
                        conf.bridge_id = ch.bridge_id
            conf.members = members
        return added, removed


def _served_role(ch: Channel) -> str:
    """A leg's role in the call it was originated for: its HOTLINE_ROLE, else an agent's (as when merged)."""
    if ch.role in ("caller", "other"):
        return (ch.vars or {}).get("HOTLINE_ROLE", "agent")
    return ch.role
