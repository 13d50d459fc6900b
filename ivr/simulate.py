"""Dry run of a call: the real engine against a scripted AsyncAGI stand-in.

:class:`ScriptedAgi` answers AGI commands as Asterisk would, taking the
caller's key presses from a script: each ``GET DATA`` takes the next entry
(``"1"``, ``"13800138000"``; ``""`` is silence, i.e. a timeout; ``"hangup"``
hangs up there), ``RECORD FILE`` records a few seconds of speech (the caller
hangs up during it if the next entry is ``"hangup"``, says nothing if it is
``""``). ``hangup_after=N`` hangs up on the N-th command, whatever it is. Recognised speech comes
from a :class:`~ivr.ports.TextSpeech`. The queue and call actions are
stand-ins whose outcome is chosen up front. Used by ``hotline flow simulate``
and by the tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shlex
from dataclasses import dataclass, field
from typing import Any

from cti.agi import AgiHangup, AgiResult, parse_result
from ivr.bundle import FlowBundle, FlowRegistry
from ivr.engine import EngineConfig, IvrEngine
from ivr.ports import (
    CallInfo,
    FixedClock,
    MemoryRecorder,
    QueueOutcome,
    QueueOutcomeKind,
    QueueRequest,
    SessionSummary,
    TextSpeech,
    TransferOutcome,
    TransferRequest,
)

HANGUP = "hangup"


class ScriptedAgi:
    """Stands in for ``cti.agi.AgiSession``: answers commands from a key script."""

    def __init__(self, keys: list[str] | None = None, *, dnis: str = "12345", caller: str = "13800138000",
                 channel: str = "PJSIP/trunk-00000001", uniqueid: str = "1795266440.7", linkedid: str | None = None,
                 context: str = "hotline-inbound", extension: str | None = None, record_seconds: float = 6.0,
                 hangup_after: int | None = 5000, clock: FixedClock | None = None,
                 play_seconds: float = 2.0) -> None:
        self.keys = list(keys or [])
        self.clock = clock  # advanced by what each command would take on a real channel
        self.play_seconds = play_seconds
        self.channel = channel
        self.uniqueid = uniqueid
        self.linkedid = linkedid or uniqueid
        self.env = {
            "agi_request": "async", "agi_channel": channel, "agi_uniqueid": uniqueid, "agi_callerid": caller,
            "agi_calleridname": "", "agi_dnid": dnis, "agi_context": context,
            "agi_extension": extension if extension is not None else dnis, "agi_priority": "4",
        }
        self.commands: list[str] = []
        self.variables: dict[str, str] = {}
        self.record_samples = int(record_seconds * 8000)
        self.hangup_after = hangup_after  # hang up when this many commands have been sent
        self.ended: str | None = None

    @property
    def active(self) -> bool:
        return self.ended is None

    def hang_up(self) -> None:
        self.ended = "hangup"

    async def command(self, cmd: str, timeout: float | None = None) -> AgiResult:
        if self.ended:
            raise AgiHangup(f"{self.channel} is not in AsyncAGI ({self.ended})")
        self.commands.append(cmd)
        await asyncio.sleep(0)  # a real command always waits for the PBX
        if self.hangup_after is not None and len(self.commands) >= self.hangup_after:
            self.ended = "hangup"
            raise AgiHangup(f"{self.channel} hung up")
        return parse_result(self._answer(cmd))

    def _next_key(self) -> str | None:
        return self.keys.pop(0) if self.keys else None

    def _answer(self, cmd: str) -> str:
        verb = cmd.split(" ", 2)
        head = " ".join(verb[:2])
        if head == "GET DATA":
            k = self._next_key()
            if k == HANGUP:
                return self._hangup_now("GET DATA")
            if not k:
                self._advance(int(verb[2].split(" ")[1]) / 1000 if verb[2].count(" ") >= 1 else 5.0)
                return "200 result= (timeout)"
            return f"200 result={k}"
        if head == "WAIT FOR":
            if self.keys and self.keys[0] == HANGUP:
                self.keys.pop(0)
                return self._hangup_now("WAIT FOR DIGIT")
            self._advance(int(verb[2]) / 1000)
            return "200 result=0"
        if head == "STREAM FILE":
            self._advance(self.play_seconds)
            return f"200 result=0 endpos={int(self.play_seconds * 8000)}"
        if head == "RECORD FILE":
            if self.keys and self.keys[0] == HANGUP:
                self.keys.pop(0)
                self.ended = "hangup"
                return f"200 result=-1 (hangup) endpos={self.record_samples}"
            if self.keys and self.keys[0] == "":
                self.keys.pop(0)
                return "200 result=0 (timeout) endpos=800"
            return f"200 result=0 (timeout) endpos={self.record_samples}"
        if head == "SET VARIABLE":
            parts = shlex.split(cmd)
            self.variables[parts[2]] = parts[3] if len(parts) > 3 else ""
            return "200 result=1"
        if head == "GET VARIABLE":
            name = shlex.split(cmd)[2]
            if name in self.variables:
                return f"200 result=1 ({self.variables[name]})"
            return "200 result=0"
        if verb[0] == "HANGUP":
            self.ended = "hangup"
            return "200 result=1"
        if verb[0] == "SAY":
            return "200 result=0"
        return "200 result=0"

    def _advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds)

    def _hangup_now(self, what: str) -> str:
        self.ended = "hangup"
        raise AgiHangup(f"{self.channel} hung up during {what}")


@dataclass
class ScriptedQueueHandle:
    _outcome: "asyncio.Future[QueueOutcome]"
    wait: float | None = 60.0
    callbacks: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> "asyncio.Future[QueueOutcome]":
        return self._outcome

    def estimated_wait(self) -> float | None:
        return self.wait

    def position(self) -> int | None:
        return 1

    async def accept_callback(self, number: str) -> None:
        self.callbacks.append(number)
        if not self._outcome.done():
            self._outcome.set_result(QueueOutcome(QueueOutcomeKind.CALLBACK, callback_id="cb-1"))

    async def cancel(self, reason: str) -> None:
        if not self._outcome.done():
            self._outcome.set_result(QueueOutcome(QueueOutcomeKind.HANGUP, reason=reason))


class ScriptedQueue:
    """QueuePort stand-in: each enqueue resolves with the next planned outcome (default: connected)."""

    def __init__(self, outcomes: list[str] | None = None, agent: str = "8001", pending: bool = False) -> None:
        # an outcome "wait" leaves that wait open: the engine's max_wait / call-back offer decide
        self.outcomes = list(outcomes or [])
        self.agent = agent
        self.pending = pending  # leave the wait open (tests resolve it themselves)
        self.requests: list[QueueRequest] = []
        self.handles: list[ScriptedQueueHandle] = []
        self.callbacks: list[tuple[str, str]] = []

    async def enqueue(self, request: QueueRequest) -> ScriptedQueueHandle:
        self.requests.append(request)
        fut: asyncio.Future[QueueOutcome] = asyncio.get_running_loop().create_future()
        h = ScriptedQueueHandle(fut)
        self.handles.append(h)
        planned = self.outcomes.pop(0) if self.outcomes else "connected"
        if not self.pending and planned != "wait":
            kind = QueueOutcomeKind(planned)
            fut.set_result(QueueOutcome(kind, agent=self.agent if kind is QueueOutcomeKind.CONNECTED else None,
                                        callback_id="cb-1" if kind is QueueOutcomeKind.CALLBACK else None))
        return h

    async def request_callback(self, call: CallInfo, skill: str, number: str, note: str = "") -> str:
        self.callbacks.append((skill, number))
        return f"cb-{len(self.callbacks)}"


class ScriptedActions:
    """CallActions stand-in: transfers end with the next planned outcome (default: answered)."""

    def __init__(self, outcomes: list[str] | None = None) -> None:
        self.outcomes = list(outcomes or [])
        self.requests: list[TransferRequest] = []

    async def transfer(self, request: TransferRequest) -> TransferOutcome:
        self.requests.append(request)
        return TransferOutcome(self.outcomes.pop(0) if self.outcomes else "answered")


class FixedHistory:
    def __init__(self, calls: int = 0) -> None:
        self.calls = calls

    async def recent_calls(self, caller: str, within: float, now: dt.datetime) -> int:
        return self.calls


@dataclass
class SimulationResult:
    summary: SessionSummary
    recorder: MemoryRecorder
    agi: ScriptedAgi
    queue: ScriptedQueue
    actions: ScriptedActions

    def lines(self, verbose: bool = False) -> list[str]:
        out = []
        cmds = iter(self.agi.commands)
        for ev in self.recorder.events:
            data = "" if not ev.data else " " + " ".join(f"{k}={v}" for k, v in ev.data.items() if v not in ("", None))
            out.append(f"{ev.seq:3d} {ev.node_id:32s} {ev.event}{data}")
        if verbose:
            out.append("AGI commands:")
            out += [f"    {c}" for c in cmds]
        s = self.summary
        version = f"v{s.flow_version}" if s.flow_version is not None else "(files, unpublished)"
        out.append(f"outcome: {s.outcome}  flow: {s.flow} {version}  hotline: {s.hotline} ({s.merge_mode})")
        out.append("path: " + " > ".join(s.ivr_path))
        if s.variables:
            out.append("variables: " + ", ".join(f"{k}={v}" for k, v in s.variables.items()))
        if s.survey_score is not None:
            out.append(f"survey: {s.survey_score}")
        return out


async def simulate(bundle: FlowBundle, *, dnis: str = "12345", keys: list[str] | None = None,
                   say: list[str] | None = None, caller: str = "13800138000", at: dt.datetime | None = None,
                   queue: list[str] | None = None, transfer: list[str] | None = None, repeat_calls: int = 0,
                   context: str = "hotline-inbound", extension: str | None = None) -> SimulationResult:
    """Run one call through the engine and return what happened."""
    clock = FixedClock(at or dt.datetime.now(dt.timezone.utc))
    agi = ScriptedAgi(keys, dnis=dnis, caller=caller, context=context, extension=extension, clock=clock)
    speech = TextSpeech(say)
    q = ScriptedQueue(queue)
    actions = ScriptedActions(transfer)
    rec = MemoryRecorder()
    engine = IvrEngine(FlowRegistry(bundle), q, actions, rec, clock=clock, history=FixedHistory(repeat_calls),
                       speech=lambda call: speech, config=EngineConfig(agi_timeout=5.0, hangup_grace=0.01))
    summary = await engine.handle(agi)
    return SimulationResult(summary, rec, agi, q, actions)


def run_simulation(bundle: FlowBundle, **kwargs: Any) -> SimulationResult:
    return asyncio.run(simulate(bundle, **kwargs))
