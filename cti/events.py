"""Typed domain events the CTI core publishes on the bus.

The call model (cti.model) turns raw AMI events into these; call control and
the transfer / conference state machines (cti.control, cti.transfer,
cti.conference) add their own. Every event is a frozen dataclass with
``slots``: cheap to build on the hot path, safe to hand to any subscriber.

Identifiers:
* ``call_id`` is the Asterisk ``Linkedid`` of the call (the Uniqueid of the
  channel that started it); it is also the CDR's key.
* ``leg_id`` is a channel's ``Uniqueid`` (stable across renames and across an
  Asterisk restart, unlike channel names, whose counters restart at -00000000).
* ``channel`` is the channel name at the time of the event.

Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


# ---------------------------------------------------------------------------
# CDR
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LegRecord:
    """One channel of a finished call (a row of ``call_legs``)."""

    leg_id: str  # Uniqueid
    channel: str  # last channel name
    role: str  # "caller" (the channel that started the call), "agent", "local", "conference", "other"
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str
    context: str  # first dialplan location
    exten: str
    created_at: datetime
    answered_at: datetime | None
    hungup_at: datetime
    hangup_cause: int | None  # Q.850 cause from Hangup, None if unknown (lost while disconnected)
    hangup_cause_txt: str
    dial_status: str  # last DialEnd status for this leg as a dialled party ("" if never dialled)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The CDR of one finished call (a row of ``calls`` plus its legs)."""

    call_id: str  # Linkedid
    dnis: str  # the dialled hotline number ("" for calls the server originated)
    direction: str  # "inbound" | "outbound"
    caller_num: str
    caller_name: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    duration: float  # seconds, start to end
    talk_time: float  # seconds the caller spent bridged with another party (agent, transfer target, conference)
    disposition: str  # ANSWERED | NO ANSWER | BUSY | CONGESTION | FAILED
    hangup_cause: int | None  # cause of the first leg (the caller)
    hangup_cause_txt: str
    legs: tuple[LegRecord, ...]
    agent: str = ""  # seat of the first agent leg that answered ("8001")
    connected_at: datetime | None = None  # first time the caller was bridged with another party (agent...)
    recordings: tuple[str, ...] = ()  # MixMonitor file paths
    transfers: int = 0  # completed transfers: Asterisk's blind + attended, and the server's own (Redirect, Bridge)
    lost: bool = False  # closed by a resync: the end was not observed (cause "lost while disconnected")
    # A leg the server originated for a call that had already ended when the leg named it
    # (HOTLINE_CALL): an agent answering just after the caller hung up, a call-back. It could not
    # be merged into a live call, so it has a record of its own; its legs belong to that call's.
    part_of: str = ""


# ---------------------------------------------------------------------------
# Call and leg life cycle
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    at: datetime
    channel: str
    leg_id: str
    caller_num: str
    caller_name: str
    dnis: str
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    at: datetime
    channel: str
    leg_id: str


@dataclass(frozen=True, slots=True)
class CallDnisKnown:
    """The dialled number became known after CallStarted (HOTLINE_DNIS or first inbound Newexten)."""

    call_id: str
    at: datetime
    dnis: str


@dataclass(frozen=True, slots=True)
class LegAdded:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    role: str
    state: str
    caller_num: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class LegStateChanged:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    old_state: str
    new_state: str  # down | rsrvd | offhook | dialing | ring | ringing | up | busy | ...


@dataclass(frozen=True, slots=True)
class LegRenamed:
    call_id: str
    at: datetime
    leg_id: str
    old_channel: str
    new_channel: str


@dataclass(frozen=True, slots=True)
class CallerIdChanged:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str


@dataclass(frozen=True, slots=True)
class DialStarted:
    call_id: str
    at: datetime
    leg_id: str  # the dialling channel ("" for an originate, which has no caller channel)
    dest_leg_id: str
    dest_channel: str
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnded:
    call_id: str
    at: datetime
    leg_id: str
    dest_leg_id: str
    dest_channel: str
    dial_status: str  # ANSWER | BUSY | NOANSWER | CANCEL | CONGESTION | CHANUNAVAIL ...


@dataclass(frozen=True, slots=True)
class LegHungup:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    cause: int | None
    cause_txt: str


@dataclass(frozen=True, slots=True)
class CallMerged:
    """A call the server originated (agent leg, transfer recipient, conference guest) was
    started with ``HOTLINE_CALL=<call id>``: its legs now belong to that call; it has no CDR."""

    call_id: str
    at: datetime
    into_call_id: str
    legs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    at: datetime
    cdr: CallRecord


# ---------------------------------------------------------------------------
# Bridges: who is connected to whom
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallBridged:
    """A leg entered a bridge; ``peers`` are the channels it is now connected to (leg ids)."""

    call_id: str
    at: datetime
    bridge_id: str
    leg_id: str
    channel: str
    peers: tuple[str, ...]
    bridge_type: str  # basic | base (ConfBridge) | ...


@dataclass(frozen=True, slots=True)
class CallUnbridged:
    call_id: str
    at: datetime
    bridge_id: str
    leg_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class BridgesMerged:
    at: datetime
    from_bridge_id: str
    to_bridge_id: str


# ---------------------------------------------------------------------------
# In-call features
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DtmfReceived:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    digit: str
    duration_ms: int
    direction: str  # Received | Sent


@dataclass(frozen=True, slots=True)
class HoldStarted:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    music_class: str  # "" for a Hold indication without music


@dataclass(frozen=True, slots=True)
class HoldEnded:
    call_id: str
    at: datetime
    leg_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class ConferenceJoined:
    call_id: str
    at: datetime
    conference: str
    leg_id: str
    channel: str
    muted: bool
    admin: bool


@dataclass(frozen=True, slots=True)
class ConferenceLeft:
    call_id: str
    at: datetime
    conference: str
    leg_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class ConferenceMuteChanged:
    call_id: str
    at: datetime
    conference: str
    leg_id: str
    channel: str
    muted: bool


@dataclass(frozen=True, slots=True)
class ConferenceEnded:
    at: datetime
    conference: str


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    path: str  # as Asterisk reports it (MIXMONITOR_FILENAME) or as requested


@dataclass(frozen=True, slots=True)
class RecordingStopped:
    call_id: str
    at: datetime
    leg_id: str
    channel: str
    path: str


# ---------------------------------------------------------------------------
# Transfers
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TransferStarted:
    call_id: str
    at: datetime
    transfer_id: str
    kind: str  # blind | attended | redirect
    transferer: str  # channel names
    transferee: str
    target: str  # "context,exten" or a channel


@dataclass(frozen=True, slots=True)
class TransferCompleted:
    call_id: str
    at: datetime
    transfer_id: str  # "" when observed from Asterisk without a state machine of ours
    kind: str
    transferee: str
    target: str


@dataclass(frozen=True, slots=True)
class TransferFailed:
    call_id: str
    at: datetime
    transfer_id: str
    kind: str
    reason: str
    caller_returned_to: str  # "agent" | "ivr" | "" (caller already gone)


@dataclass(frozen=True, slots=True)
class TransferStateChanged:
    """One transition of an attended-transfer or three-way state machine."""

    call_id: str
    at: datetime
    machine: str  # "transfer" | "conference"
    machine_id: str
    old_state: str
    new_state: str
    event: str


# ---------------------------------------------------------------------------
# Actions and the AMI link
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OriginateResult:
    action_id: str
    at: datetime
    success: bool
    reason: int  # 4 answered, 3 no answer, 5 busy, 8 congestion, 0 other, 1 hung up
    outcome: str  # answered | no_answer | busy | congestion | failed | hungup | timeout | error
    channel: str  # the channel created, or the dial string on failure
    uniqueid: str  # "" when Asterisk reports <unknown>
    call_id: str = ""  # Linkedid when the model knows the channel


@dataclass(frozen=True, slots=True)
class AmiLinkUp:
    at: datetime


@dataclass(frozen=True, slots=True)
class AmiLinkDown:
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class QueueMemberState:
    queue: str
    interface: str
    name: str
    paused: bool
    paused_reason: str
    penalty: int
    status: int  # Asterisk device status (1 not in use, 2 in use, 5 unavailable, 6 ringing ...)
    in_call: bool
    membership: str  # dynamic | static | realtime


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The queue state Asterisk reported at a resync (dynamic members vanish on a restart)."""

    at: datetime
    queues: tuple[str, ...]
    members: tuple[QueueMemberState, ...]
    waiting: int


@dataclass(frozen=True, slots=True)
class ModelResynced:
    at: datetime
    closed: int  # calls closed because their channels were gone
    added: int  # channels found in the snapshot the model did not know
    updated: int  # known channels whose state the snapshot corrected
    live_calls: int
    queues: int = 0
    conferences: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)
