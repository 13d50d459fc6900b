"""What the IVR engine needs from the rest of the server, as Protocols.

The composition root (hotline/app.py) passes implementations in:

- :class:`QueuePort` — the router: puts a caller in a skill queue and
  resolves the wait (agent connected, overflow, call-back accepted, caller
  gone); also registers call-backs;
- :class:`CallActions` — the CTI core: transfers (blind or attended) to an
  extension, a merged legacy hotline's seats, an outside number, 110/119/120;
- :class:`IvrRecorder` — persistence of the IVR path (``ivr_events``) and of
  what the session collected (survey score, variables, recordings);
- :class:`SpeechSource` — the speech-recognition side: recognised text;
- :class:`CallerHistory` — earlier calls of a number (repeat-caller rule);
- :class:`Clock` — time, always injected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Mapping, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The call as the IVR knows it when it asks another part for something."""

    call_id: str  # Asterisk Linkedid, the key of the calls table
    channel: str
    caller: str
    dnis: str
    hotline: str | None = None  # entry hotline number (12345 or a merged line)
    merge_mode: str | None = None  # primary / direct_merge / call_transfer / interconnection
    ivr_path: tuple[str, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- queue (router)


class QueueOutcomeKind(StrEnum):
    CONNECTED = "connected"  # an agent took the call (the router bridged it)
    OVERFLOW = "overflow"  # no agent in time / queue closed: the flow continues at on.overflow
    CALLBACK = "callback"  # the caller accepted a call-back and leaves the queue
    HANGUP = "hangup"  # the caller hung up while waiting


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    kind: QueueOutcomeKind
    agent: str | None = None
    reason: str = ""
    callback_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueueRequest:
    call: CallInfo
    skill: str
    priority: int  # 0 first ... 9 last
    max_wait: float | None
    callback_offered: bool


class QueueHandle(Protocol):
    """One caller waiting; returned by :meth:`QueuePort.enqueue`.

    A handle may also have ``offer_callback() -> bool``: whether the caller's expected wait is
    above the queue's call-back threshold. The engine then offers the call-back as soon as it
    says so (after the first announcement), and otherwise after the flow's ``callback_offer.after``.
    """

    @property
    def outcome(self) -> "asyncio.Future[QueueOutcome]":
        """Resolves once, with how the wait ended."""
        ...

    def estimated_wait(self) -> float | None:
        """Seconds the router expects the caller still to wait (None if unknown)."""
        ...

    def position(self) -> int | None: ...

    async def accept_callback(self, number: str) -> None:
        """The caller pressed the call-back key: register it; ``outcome`` becomes CALLBACK."""
        ...

    async def cancel(self, reason: str) -> None:
        """The IVR stops waiting (caller hung up, max_wait passed): leave the queue."""
        ...


@runtime_checkable
class QueuePort(Protocol):
    async def enqueue(self, request: QueueRequest) -> QueueHandle: ...

    async def request_callback(self, call: CallInfo, skill: str, number: str, note: str = "") -> str:
        """Register a call-back outside a queue wait; returns its id."""
        ...


# --------------------------------------------------------------------------- call actions (CTI)


class TransferOutcome(StrEnum):
    ANSWERED = "answered"  # the far end took the call; the caller left the IVR
    BUSY = "busy"
    NOANSWER = "noanswer"
    FAILED = "failed"  # congestion, invalid number, trunk down ...
    CALLER_HANGUP = "caller_hangup"


@dataclass(frozen=True, slots=True)
class TransferRequest:
    call: CallInfo
    kind: Literal["extension", "hotline", "number", "emergency"]
    destination: str  # dialled number (seat extension, department number, 110 ...)
    context: str  # dialplan context: hotline-agent / hotline-outbound
    mode: Literal["blind", "attended"]
    timeout: float
    variables: Mapping[str, str]  # context for the far end (HOTLINE_CALL, HOTLINE_IVR_PATH, HOTLINE_SUMMARY ...)


@runtime_checkable
class CallActions(Protocol):
    async def transfer(self, request: TransferRequest) -> TransferOutcome:
        """Blind: redirect the caller to ``context,destination,1``. Attended: ring the
        destination first (the caller stays in the IVR hearing hold music) and bridge
        when it answers. Returns how it ended; on anything but ANSWERED the caller is
        still in the IVR (unless CALLER_HANGUP)."""
        ...


# --------------------------------------------------------------------------- recorder


@dataclass(frozen=True, slots=True)
class IvrEvent:
    """One step of the IVR path: a row of ``ivr_events``."""

    call_id: str
    seq: int
    node_id: str  # "<flow>.<node>"
    event: str  # enter, prompt, input, noinput, nomatch, exit, set, enqueue, queue_outcome, transfer, survey, hangup, error ...
    data: Mapping[str, Any] | None
    ts: dt.datetime  # aware UTC


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a session ended with; the composition root stores it on the call and work order."""

    call_id: str
    channel: str
    caller: str
    dnis: str
    hotline: str | None
    merge_mode: str | None
    flow: str
    flow_version: int | None
    outcome: str  # connected, transferred, emergency, callback, overflow_hangup, completed, caller_hangup, error
    ivr_path: tuple[str, ...]
    variables: Mapping[str, Any]
    survey_score: int | None
    recordings: tuple[str, ...]
    started_at: dt.datetime
    ended_at: dt.datetime


class IvrRecorder(Protocol):
    def record(self, event: IvrEvent) -> None:
        """Take one path event; must not block (the implementation queues and batches writes)."""
        ...

    async def finish(self, summary: SessionSummary) -> None:
        """The session ended (for whatever reason): persist what was collected."""
        ...


class NullRecorder:
    def record(self, event: IvrEvent) -> None:
        pass

    async def finish(self, summary: SessionSummary) -> None:
        pass


class MemoryRecorder:
    """Keeps everything in lists (tests, simulator)."""

    def __init__(self) -> None:
        self.events: list[IvrEvent] = []
        self.summaries: list[SessionSummary] = []

    def record(self, event: IvrEvent) -> None:
        self.events.append(event)

    async def finish(self, summary: SessionSummary) -> None:
        self.summaries.append(summary)


# --------------------------------------------------------------------------- speech, history, clock


@runtime_checkable
class SpeechSource(Protocol):
    async def listen(self, timeout: float) -> str | None:
        """Recognised text of what the caller says within ``timeout`` seconds, or None."""
        ...


class TextSpeech:
    """A SpeechSource answering from a script of utterances (tests, simulator)."""

    def __init__(self, utterances: list[str] | None = None) -> None:
        self._queue: list[str] = list(utterances or [])

    def add(self, text: str) -> None:
        self._queue.append(text)

    async def listen(self, timeout: float) -> str | None:
        return self._queue.pop(0) if self._queue else None


class CallerHistory(Protocol):
    async def recent_calls(self, caller: str, within: float, now: dt.datetime) -> int:
        """How many earlier calls from ``caller`` started in the ``within`` seconds before ``now``."""
        ...


class NoHistory:
    async def recent_calls(self, caller: str, within: float, now: dt.datetime) -> int:
        return 0


class Clock(Protocol):
    def now(self) -> dt.datetime:  # aware UTC
        ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock standing at ``at`` (aware); ``advance`` moves it (tests, simulator)."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at
        self._mono = 0.0

    def now(self) -> dt.datetime:
        return self._at + dt.timedelta(seconds=self._mono)

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._mono += seconds
