"""Channels and bridges as Asterisk 22 reports them on AMI.

Names: ``PJSIP/<endpoint>-<8 hex>`` with one sequence shared by every channel
technology (``Local/x@ctx-<8 hex>;1`` has its own); Uniqueid/Linkedid are
``<epoch seconds>.<global counter>``. States: 0 Down, 4 Ring, 5 Ringing, 6 Up.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .agi import AgiSession
    from .callers import SimCall

STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP = 0, 4, 5, 6

CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    27: "Destination out of order",
    34: "Circuit/channel congestion",
    38: "Network out of order",
}


class WakeReason:
    """Why a channel's current wait ended."""

    TIMEOUT = "timeout"
    DTMF = "dtmf"
    HANGUP = "hangup"
    REDIRECT = "redirect"  # async goto (Redirect, BlindTransfer, Bridge pull, AGI break-out)


@dataclass(eq=False, slots=True)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    tech: str
    endpoint: str
    created: float  # sim seconds
    state: int = DOWN
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    language: str = "en"
    accountcode: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    dnid: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    inherit: dict[str, str] = field(default_factory=dict)  # name -> "_" or "__"
    application: str = ""
    appdata: str = ""
    bridge: "Bridge | None" = None
    agi: "AgiSession | None" = None
    answered_at: float | None = None
    hungup: bool = False  # the Hangup event was sent; the channel is gone
    soft_hangup: bool = False  # a hang-up is pending; the current app must stop
    hangup_cause: int = 0
    hangup_by: str = ""
    tech_cause: int | None = None
    pending_goto: tuple[str, str, int] | None = None  # async goto target
    pending_bridge: "Bridge | None" = None  # pulled into a bridge (Action: Bridge, ConfBridge moves)
    goto_from_bridge: str = ""  # "redirect" | "transfer": a bridged channel moved out of its app (first Newexten differs)
    # put in its bridge by Action: Bridge, which in Asterisk yanks it out of its PBX: moved on from there,
    # it starts a fresh PBX (a plain first Newexten)
    bridged_by_action: bool = False
    # a Local ;1 that Originate is still dialling: the originating thread owns it and hangs it up itself
    # once it has reported the outcome (a hang-up of ;2 only tells it so)
    originating: bool = False
    waiter: asyncio.Future | None = None
    waiter_digits: bool = False
    dtmf_buffer: list[str] = field(default_factory=list)
    task: asyncio.Task | None = None
    call: "SimCall | None" = None  # scripted caller record
    local_peer: "Channel | None" = None  # other half of a Local pair
    dial_peer: "Channel | None" = None  # caller of a Dial()ed leg
    hold: bool = False
    moh: bool = False
    mixmonitor: Any = None
    audio: Any = None  # callers.AudioSource: what this party says
    on_hangup: list[Callable[["Channel"], None]] = field(default_factory=list)
    run_dialplan: bool = False  # a pbx thread runs on this channel (SoftHangupRequest 16 at the end)
    in_dial: bool = False
    last_app: str = ""
    last_appdata: str = ""
    qos_done: bool = False
    indication: int = 0  # 17 busy / 34 congestion signalled by Busy()/Congestion() before any answer

    # -- header blocks ---------------------------------------------------
    def headers(self, prefix: str = "") -> list[tuple[str, str]]:
        p = prefix
        return [
            (p + "Channel", self.name),
            (p + "ChannelState", str(self.state)),
            (p + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (p + "CallerIDNum", self.caller_num),
            (p + "CallerIDName", self.caller_name),
            (p + "ConnectedLineNum", self.connected_num),
            (p + "ConnectedLineName", self.connected_name),
            (p + "Language", self.language),
            (p + "AccountCode", self.accountcode),
            (p + "Context", self.context),
            (p + "Exten", self.exten),
            (p + "Priority", str(self.priority)),
            (p + "Uniqueid", self.uniqueid),
            (p + "Linkedid", self.linkedid),
        ]

    @property
    def alive(self) -> bool:
        return not self.hungup

    def get_var(self, name: str) -> str | None:
        return self.variables.get(name)

    # -- waiting ---------------------------------------------------------
    def wake(self, reason: str, value: str = "") -> None:
        w = self.waiter
        if w is not None and not w.done():
            if reason == WakeReason.DTMF and not self.waiter_digits:
                return
            w.set_result((reason, value))


@dataclass(eq=False, slots=True)
class Bridge:
    uniqueid: str
    type: str = "basic"
    technology: str = "simple_bridge"
    creator: str = "<unknown>"
    name: str = "<unknown>"
    channels: list[Channel] = field(default_factory=list)
    hidden: int = 0  # channels counted but never announced (ConfBridge announcer)
    video_mode: str = "none"
    conference: str | None = None
    destroyed: bool = False
    had_two: bool = False
    keep_for: "Channel | None" = None  # a two-party bridge stays up until this channel (re)enters (Atxfer)
    on_leave: Any = None  # callback(channel) after a channel left (Atxfer)
    before_leave: Any = None  # callback(channel) just before a channel leaves (app_queue AgentComplete)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def headers(self, prefix: str = "Bridge") -> list[tuple[str, str]]:
        p = prefix
        return [
            (p + "Uniqueid", self.uniqueid),
            (p + "Type", self.type),
            (p + "Technology", self.technology),
            (p + "Creator", self.creator),
            (p + "Name", self.name),
            (p + "NumChannels", str(len(self.channels) + self.hidden)),
            (p + "VideoSourceMode", self.video_mode),
        ]


@dataclass
class ChannelRegistry:
    """Live channels by name and uniqueid, plus the name/uniqueid counters."""

    channels: dict[str, Channel] = field(default_factory=dict)
    by_uniqueid: dict[str, Channel] = field(default_factory=dict)
    by_lower: dict[str, Channel] = field(default_factory=dict)
    _seq: Any = field(default_factory=lambda: itertools.count(0))  # channel name suffix
    _local_seq: Any = field(default_factory=lambda: itertools.count(0))
    _uid: Any = field(default_factory=lambda: itertools.count(0))

    def reset(self) -> None:
        self.channels.clear()
        self.by_uniqueid.clear()
        self.by_lower.clear()
        self._seq = itertools.count(0)
        self._local_seq = itertools.count(0)
        self._uid = itertools.count(0)

    def new_uniqueid(self, wall: float) -> str:
        return f"{int(wall)}.{next(self._uid)}"

    def next_name(self, tech: str, resource: str) -> str:
        return f"{tech}/{resource}-{next(self._seq):08x}"

    def next_local(self, resource: str) -> tuple[str, str]:
        base = f"Local/{resource}-{next(self._local_seq):08x}"
        return base + ";1", base + ";2"

    def add(self, chan: Channel) -> None:
        self.channels[chan.name] = chan
        self.by_uniqueid[chan.uniqueid] = chan
        self.by_lower[chan.name.lower()] = chan

    def remove(self, chan: Channel) -> None:
        if self.channels.get(chan.name) is chan:
            del self.channels[chan.name]
        if self.by_uniqueid.get(chan.uniqueid) is chan:
            del self.by_uniqueid[chan.uniqueid]
        if self.by_lower.get(chan.name.lower()) is chan:
            del self.by_lower[chan.name.lower()]

    def get(self, name: str | None) -> Channel | None:
        if not name:
            return None
        c = self.channels.get(name)
        if c is None:
            c = self.by_uniqueid.get(name)
        if c is None:
            c = self.by_lower.get(name.lower())
        return c

    def __len__(self) -> int:
        return len(self.channels)


def new_bridge_id() -> str:
    return str(uuid.uuid4())
