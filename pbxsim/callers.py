"""Scripted citizens calling the hotline, and the record of what happened to each call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .channels import Bridge, Channel

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Pbx


@dataclass
class CallerScript:
    """One inbound call.

    ``keys``: one entry per digit-accepting AGI command (GET DATA, WAIT FOR DIGIT,
    STREAM FILE/SAY with escape digits, RECORD FILE), consumed in order; each entry
    is pressed ``think_time`` s after the command starts ("" = press nothing, "42#"
    = three digits ``key_gap`` s apart).
    ``speech_wav``: what the caller says (RECORD FILE, AudioSocket, MixMonitor).
    ``patience``: hang up if no agent is bridged within this many s of the answer.
    ``talk_time``: once bridged to someone, hang up after this many s.
    ``hangup_after``: hang up this many s after the call starts, whatever happens.
    """

    dnis: str = "12345"
    caller_num: str = "13800000000"
    caller_name: str = ""
    keys: list[str] = field(default_factory=list)
    think_time: float = 1.0
    key_gap: float = 0.3
    speech_wav: Path | None = None
    patience: float | None = None
    talk_time: float | None = None
    hangup_after: float | None = None


@dataclass
class CallOutcome:
    channel: str
    uniqueid: str
    answered: bool
    hung_up_by: str  # caller | pbx | agent | ami
    hangup_cause: int
    agi_commands: list[str]
    agi_results: list[str]
    keys_pressed: list[str]
    bridged_with: list[str]
    state_times: dict[str, float]
    duration: float


@dataclass(eq=False)
class SimCall:
    """A placed call: its channel, live state and (once over) its outcome."""

    script: CallerScript
    channel: Channel | None = None
    agi_commands: list[str] = field(default_factory=list)
    agi_results: list[str] = field(default_factory=list)
    keys_pressed: list[str] = field(default_factory=list)
    bridged_with: list[str] = field(default_factory=list)
    state_times: dict[str, float] = field(default_factory=dict)
    answered: bool = False
    ever_bridged_to_party: bool = False
    _state: str = "ringing"
    _since: float = 0.0
    _done: asyncio.Future[CallOutcome] | None = None
    _keys: list[str] = field(default_factory=list)
    _talk_task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._keys = list(self.script.keys)

    @property
    def outcome(self) -> asyncio.Future[CallOutcome]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        return self._done

    async def wait(self, timeout: float | None = None) -> CallOutcome:
        return await asyncio.wait_for(asyncio.shield(self.outcome), timeout)

    @property
    def state(self) -> str:
        return self._state

    @property
    def done(self) -> bool:
        return self._done is not None and self._done.done()

    # -- state accounting (sim seconds) ---------------------------------------
    def enter(self, state: str, now: float) -> None:
        if state == self._state:
            return
        self.state_times[self._state] = self.state_times.get(self._state, 0.0) + (now - self._since)
        self._state = state
        self._since = now

    # -- hooks from the PBX -------------------------------------------------------
    def next_keys(self) -> str | None:
        if not self._keys:
            return None
        return self._keys.pop(0)

    def on_bridged(self, pbx: "Pbx", chan: Channel, bridge: Bridge) -> None:
        others = [c for c in bridge.channels if c is not chan]
        if not others:
            return
        for o in others:
            if o.name not in self.bridged_with:
                self.bridged_with.append(o.name)
        self.ever_bridged_to_party = True
        self.enter("bridged", pbx.clock.now())
        if self.script.talk_time is not None and self._talk_task is None:
            self._talk_task = pbx.spawn(self._talk(pbx, chan))

    def on_unbridged(self, pbx: "Pbx", chan: Channel) -> None:
        if not chan.hungup:
            self.enter("dialplan", pbx.clock.now())

    async def _talk(self, pbx: "Pbx", chan: Channel) -> None:
        assert self.script.talk_time is not None
        await pbx.clock.sleep(self.script.talk_time)
        if not chan.hungup and not chan.soft_hangup:
            pbx.remote_hangup(chan, cause=16 if chan.bridge is not None else None, by="caller")

    def finish(self, pbx: "Pbx", chan: Channel) -> None:
        now = pbx.clock.now()
        self.enter("gone", now)
        if self._talk_task is not None and not self._talk_task.done():
            self._talk_task.cancel()
        by = chan.hangup_by or "pbx"
        out = CallOutcome(
            channel=chan.name,
            uniqueid=chan.uniqueid,
            answered=self.answered or chan.answered_at is not None,
            hung_up_by=by,
            hangup_cause=chan.hangup_cause,
            agi_commands=list(self.agi_commands),
            agi_results=list(self.agi_results),
            keys_pressed=list(self.keys_pressed),
            bridged_with=list(self.bridged_with),
            state_times=dict(self.state_times),
            duration=now - chan.created,
        )
        if not self.outcome.done():
            self.outcome.set_result(out)
