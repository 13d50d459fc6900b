"""AsyncAGI (``AGI(agi:async)``) as Asterisk 22 runs it over AMI.

* ``AsyncAGIStart`` carries the percent-encoded ``Env`` (same keys, order and
  encoding as the captures; ``(`` ``)`` and ``-_.!~*'`` stay literal);
* ``Action: AGI`` queues a command; for each: ``AGIExecStart`` (Asterisk's own
  random ``CommandId``), ``AGIExecEnd`` (``ResultCode``/``Result``), then
  ``AsyncAGIExec`` with ``Result`` percent-encoded and ``CommandId`` = the
  client's CommandID;
* a hang-up, Redirect or Bridge ends the running command with ``result=-1``,
  then ``AsyncAGIEnd`` and ``AGISTATUS``; queued commands vanish. Except for
  ``Action: Bridge``: live Asterisk 22.10.1 sends ``BridgeEnter`` and *no*
  ``AsyncAGIEnd``, and none either when the bridge ends and the dialplan goes
  on after ``AGI()``;
* ``STREAM FILE`` of a file that does not exist (with a ``sounds_dir``
  configured): ``200 result=-1 endpos=0``, ``AGIExecEnd`` ``Result: Failure``,
  then ``AsyncAGIEnd``, ``AGISTATUS=FAILURE``, and the dialplan hangs up.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable
from urllib.parse import quote

from . import audio
from .channels import UP, Channel, WakeReason
from .engine import P_AGI

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Pbx

_SAFE = "-_.!~*'()"
_FOUND: set[str] = set()  # sound files seen to exist (a missing one is looked for again each time)


def agi_encode(text: str) -> str:
    return quote(text, safe=_SAFE)


def parse_agi_args(command: str) -> list[str]:
    """Split like Asterisk's AGI parser: whitespace separated, double quotes group, backslash escapes."""
    args: list[str] = []
    cur: list[str] = []
    quoted = False
    had = False
    i = 0
    while i < len(command):
        c = command[i]
        if c == "\\" and i + 1 < len(command):
            cur.append(command[i + 1])
            had = True
            i += 2
            continue
        if c == '"':
            quoted = not quoted
            had = True
        elif c in " \t" and not quoted:
            if had:
                args.append("".join(cur))
                cur = []
                had = False
        else:
            cur.append(c)
            had = True
        i += 1
    if had:
        args.append("".join(cur))
    return args


@dataclass(slots=True)
class QueuedCommand:
    command: str
    command_id: str | None


@dataclass
class AgiResult:
    text: str  # "200 result=0 endpos=16000"
    code: int = 200  # AGIExecEnd ResultCode
    end: str | None = None  # "break" | "hangup": the session ends after this command


@dataclass(eq=False)
class AgiSession:
    pbx: "Pbx"
    chan: Channel
    queue: deque[QueuedCommand] = field(default_factory=deque)
    active: bool = True
    status: str = "SUCCESS"
    # SET CONTEXT/EXTENSION/PRIORITY take effect when the AGI ends (events keep the old location until then)
    next_context: str | None = None
    next_exten: str | None = None
    next_priority: int | None = None
    idle: bool = False  # waiting for the next command (only then does a new command wake the channel)

    def enqueue(self, command: str, command_id: str | None) -> None:
        if not self.active:
            return  # accepted by the action, never runs (as Asterisk after AsyncAGIEnd)
        self.queue.append(QueuedCommand(command, command_id))
        if self.idle:
            self.chan.wake("agi")

    def env(self) -> str:
        c = self.chan
        cfg = self.pbx.config
        items = [
            ("agi_request", "async"),
            ("agi_channel", c.name),
            ("agi_language", c.language),
            ("agi_type", c.tech),
            ("agi_uniqueid", c.uniqueid),
            ("agi_version", cfg.version),
            ("agi_callerid", c.caller_num if c.caller_num != "<unknown>" else "unknown"),
            ("agi_calleridname", c.caller_name if c.caller_name != "<unknown>" else "unknown"),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", c.dnid or "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", c.context),
            ("agi_extension", c.exten),
            ("agi_priority", str(c.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", c.accountcode),
            ("agi_threadid", str(140000000000000 + (hash(c.uniqueid) & 0xFFFFFFFFFF))),
        ]
        text = "".join(f"{k}: {v}\n" for k, v in items) + "\n"
        return agi_encode(text)

    # -- the AGI application body ---------------------------------------------------
    async def run(self) -> int:
        pbx, chan = self.pbx, self.chan
        chan.agi = self
        if chan.call is not None:
            chan.call.enter("ivr", pbx.clock.now())
        pbx.chan_event("AsyncAGIStart", P_AGI, chan, (("Env", self.env()),))
        ended_by: str | None = None
        while True:
            if chan.soft_hangup:
                ended_by = "hangup"
                break
            if chan.pending_goto is not None:
                ended_by = "redirect"
                break
            if chan.pending_bridge is not None:
                ended_by = "bridge"
                break
            if not self.queue:
                self.idle = True
                try:
                    await pbx.wait(chan, None)
                finally:
                    self.idle = False
                continue
            qc = self.queue.popleft()
            res = await self.execute(qc)
            if res.end is not None:
                ended_by = res.end
                break
        self.active = False
        self.queue.clear()
        if ended_by != "bridge":
            # Action Bridge takes the channel out of AsyncAGI without AsyncAGIEnd (live Asterisk 22)
            pbx.chan_event("AsyncAGIEnd", P_AGI, chan)
        status = {"break": "SUCCESS", "failure": "FAILURE"}.get(ended_by or "", "HANGUP")
        self.status = status
        pbx.set_var(chan, "AGISTATUS", status)
        if ended_by == "break":
            if self.next_context is not None:
                chan.context = self.next_context
            if self.next_exten is not None:
                chan.exten = self.next_exten
            if self.next_priority is not None:
                chan.priority = self.next_priority - 1
        if chan.call is not None and not chan.hungup:
            chan.call.enter("dialplan", pbx.clock.now())
        # agi_exec_full: only a hang-up stops the dialplan; AGISTATUS=FAILURE (a prompt that would not
        # play) goes on to the next priority, as a live Asterisk 22.10.1 does
        return -1 if ended_by == "hangup" else 0

    async def execute(self, qc: QueuedCommand) -> AgiResult:
        pbx, chan = self.pbx, self.chan
        internal_id = str(random.randint(1, 2147483647))
        pbx.chan_event("AGIExecStart", P_AGI, chan, (("CommandId", internal_id), ("Command", qc.command)))
        if chan.call is not None:
            chan.call.agi_commands.append(qc.command)
        args = parse_agi_args(qc.command)
        try:
            res = await self.dispatch(args)
        except (ValueError, IndexError):
            res = AgiResult("520 Invalid command syntax.  Proper usage not available.", code=520)
        result_txt = "Success" if res.code == 200 else "Failure"
        pbx.chan_event("AGIExecEnd", P_AGI, chan, (
            ("CommandId", internal_id), ("Command", qc.command), ("ResultCode", str(res.code)), ("Result", result_txt)))
        extra: list[tuple[str, str]] = [("Result", agi_encode(res.text + "\n"))]
        if qc.command_id is not None:
            extra.append(("CommandId", qc.command_id))
        pbx.chan_event("AsyncAGIExec", P_AGI, chan, extra)
        if chan.call is not None:
            chan.call.agi_results.append(res.text)
        if res.end is None and chan.soft_hangup:
            res.end = "hangup"
        return res

    # -- commands -----------------------------------------------------------------------
    async def dispatch(self, args: list[str]) -> AgiResult:
        if not args:
            return AgiResult("510 Invalid or unknown command", code=510)
        words = [a.upper() for a in args[:3]]
        w0 = words[0]
        w1 = words[1] if len(words) > 1 else ""
        if w0 == "ANSWER":
            self.pbx.answer(self.chan)
            return AgiResult("200 result=0")
        if w0 == "HANGUP":
            target = self.chan if len(args) < 2 else self.pbx.registry.get(args[1])
            if target is None:
                return AgiResult("200 result=-1")
            self.pbx.softhangup(target, 32, by="pbx")
            return AgiResult("200 result=1", end="hangup" if target is self.chan else None)
        if w0 == "ASYNCAGI" and w1 == "BREAK":
            return AgiResult("200 result=0", end="break")
        if w0 == "NOOP":
            return AgiResult("200 result=0")
        if w0 == "STREAM" and w1 == "FILE":
            return await self.stream_file(args[2], args[3] if len(args) > 3 else "", int(args[4]) if len(args) > 4 else 0)
        if w0 == "CONTROL" and w1 == "STREAM":
            return await self.stream_file(args[3], args[4] if len(args) > 4 else "", 0)
        if w0 == "GET" and w1 == "DATA":
            timeout = int(args[3]) if len(args) > 3 and args[3] else 0
            maxd = int(args[4]) if len(args) > 4 and args[4] else 1024
            return await self.get_data(args[2], timeout, maxd)
        if w0 == "GET" and w1 == "OPTION":
            r = await self.stream_file(args[2], args[3] if len(args) > 3 else "", 0)
            return r
        if w0 == "WAIT" and w1 == "FOR" and words[2] == "DIGIT":
            return await self.wait_for_digit(int(args[3]) if len(args) > 3 else -1)
        if w0 == "SAY" and w1 in ("DIGITS", "NUMBER", "ALPHA", "PHONETIC"):
            return await self.say(args[2], args[3] if len(args) > 3 else "")
        if w0 == "SET" and w1 == "VARIABLE":
            self.pbx.set_var(self.chan, args[2], args[3] if len(args) > 3 else "")
            return AgiResult("200 result=1")
        if w0 == "GET" and w1 == "FULL":
            # GET FULL VARIABLE <expression> [channel]
            target = self.pbx.registry.get(args[4]) if len(args) > 4 else self.chan
            if target is None:
                return AgiResult("200 result=0")
            return AgiResult(f"200 result=1 ({self.pbx.subst.substitute(args[3], target)})")
        if w0 == "GET" and w1 == "VARIABLE":
            v = self._getvar(args[2])
            if v is None:
                return AgiResult("200 result=0")
            return AgiResult(f"200 result=1 ({v})")
        if w0 == "SET" and w1 == "CONTEXT":
            self.next_context = args[2]
            return AgiResult("200 result=0")
        if w0 == "SET" and w1 == "EXTENSION":
            self.next_exten = args[2]
            return AgiResult("200 result=0")
        if w0 == "SET" and w1 == "PRIORITY":
            p = args[2]
            if p.isdigit():
                # the dialplan continues at exactly this priority after the AGI ends
                self.next_priority = int(p)
            else:
                ctx = self.next_context or self.chan.context
                ext = self.next_exten or self.chan.exten
                r = self.pbx.dialplan.resolve_label(ctx, ext, p)
                if r is None:
                    return AgiResult("200 result=-1")
                self.next_priority = r
            return AgiResult("200 result=0")
        if w0 == "SET" and w1 == "CALLERID":
            num = args[2]
            name = ""
            if "<" in num:
                name = num.split("<")[0].strip().strip('"')
                num = num.split("<")[1].rstrip(">")
            self.pbx.set_callerid(self.chan, num, name or self.chan.caller_name)
            return AgiResult("200 result=1")
        if w0 == "CHANNEL" and w1 == "STATUS":
            return AgiResult(f"200 result={self.chan.state}")
        if w0 == "EXEC":
            return await self.exec_app(args[1], " ".join(args[2:]) if len(args) > 2 else "")
        if w0 == "VERBOSE" or w0 == "DATABASE":
            return AgiResult("200 result=1")
        if w0 == "RECORD" and w1 == "FILE":
            return await self.record_file(args[2:])
        if w0 == "SET" and w1 == "MUSIC":
            on = len(args) > 2 and args[2].lower() == "on"
            self._moh(on, args[3] if len(args) > 3 else "default")
            return AgiResult("200 result=0")
        return AgiResult("510 Invalid or unknown command", code=510)

    def _getvar(self, name: str) -> str | None:
        chan = self.chan
        if "(" in name:
            return self.pbx.subst.value_of(chan, name)
        base = name.lstrip("_")
        if base in chan.variables:
            return chan.variables[base]
        special = self.pbx.subst._lookup(chan, base)
        if base in ("EXTEN", "CONTEXT", "PRIORITY", "CHANNEL", "UNIQUEID") or base in self.pbx.globals:
            return special
        return None

    def _moh(self, on: bool, klass: str) -> None:
        chan = self.chan
        if chan.call is not None:
            chan.call.enter("hold" if on else "ivr", self.pbx.clock.now())
        if on and not chan.moh:
            chan.moh = True
            self.pbx.chan_event("MusicOnHoldStart", "call,all", chan, (("Class", klass),))
        elif not on and chan.moh:
            chan.moh = False
            self.pbx.chan_event("MusicOnHoldStop", "call,all", chan)

    def _press_keys_later(self) -> None:
        """A digit-accepting command started: the scripted caller answers with its next keys."""
        call = self.chan.call
        if call is None:
            return
        keys = call.next_keys()
        if not keys:
            return
        pbx, chan = self.pbx, self.chan

        async def press() -> None:
            await pbx.clock.sleep(call.script.think_time)
            for i, d in enumerate(keys):
                if chan.hungup or chan.soft_hangup:
                    return
                if i:
                    await pbx.clock.sleep(call.script.key_gap)
                call.keys_pressed.append(d)
                await pbx.send_dtmf(chan, d)

        pbx.spawn(press())

    async def _play(self, name: str, escape: str, offset: int = 0) -> tuple[str, str, int]:
        """Play a prompt: ("done"|"digit"|"hangup"|"redirect", digit, endpos in samples)."""
        pbx, chan = self.pbx, self.chan
        seconds = pbx.audio_cache.prompt_seconds(name)
        total = int(seconds * audio.RATE)
        start = pbx.clock.now()
        while True:
            remaining = seconds - (offset / audio.RATE) - (pbx.clock.now() - start)
            if remaining <= 0:
                return "done", "", total
            reason, value = await pbx.wait(chan, remaining, digits=bool(escape))
            pos = min(total, offset + int((pbx.clock.now() - start) * audio.RATE))
            if reason == WakeReason.TIMEOUT:
                return "done", "", total
            if reason == WakeReason.DTMF:
                if value in escape:
                    return "digit", value, pos
                continue
            if reason == WakeReason.HANGUP:
                return "hangup", "", pos
            if reason == WakeReason.REDIRECT:
                if chan.pending_goto is None and chan.pending_bridge is None and not chan.soft_hangup:
                    continue
                return "redirect", "", pos
            # "agi": another command queued; keep playing

    def _sound_missing(self, name: str) -> bool:
        """With a sounds_dir configured: no file for ``name`` (absolute, or relative to sounds_dir)."""
        base = self.pbx.config.sounds_dir
        if base is None or not name:
            return False
        path = Path(name) if name.startswith("/") else Path(base) / name
        key = str(path)
        if key in _FOUND:
            return False
        found = path.is_file() or (path.parent.is_dir() and any(path.parent.glob(glob_escape(path.name) + ".*")))
        if found:
            if len(_FOUND) > 4096:
                _FOUND.clear()
            _FOUND.add(key)
        return not found

    async def stream_file(self, name: str, escape: str, offset: int) -> AgiResult:
        pbx, chan = self.pbx, self.chan
        if self._sound_missing(name):
            # as Asterisk 22: "200 result=-1 endpos=0", AGIExecEnd Result Failure, then the AGI ends
            # (AsyncAGIEnd, AGISTATUS=FAILURE) and the dialplan hangs up
            pbx.set_var(chan, "PLAYBACKSTATUS", "FAILED")
            return AgiResult("200 result=-1 endpos=0", code=-1, end="failure")
        if escape:
            self._press_keys_later()
        outcome, digit, pos = await self._play(name, escape, offset)
        if outcome in ("hangup", "redirect"):
            pbx.set_var(chan, "PLAYBACKSTATUS", "FAILED")
            return AgiResult(f"200 result=-1 endpos={pos}", code=-1)
        pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
        if outcome == "digit":
            return AgiResult(f"200 result={ord(digit)} endpos={pos}")
        return AgiResult(f"200 result=0 endpos={pos}")

    async def get_data(self, prompt: str, timeout_ms: int, maxdigits: int) -> AgiResult:
        pbx, chan = self.pbx, self.chan
        self._press_keys_later()
        digits = ""
        outcome, digit, _ = await self._play(prompt, "0123456789*#", 0)
        if outcome in ("hangup", "redirect"):
            return AgiResult("200 result=-1", code=-1)
        if outcome == "digit":
            if digit == "#":
                return AgiResult(f"200 result={digits}")
            digits += digit
        timeout = (timeout_ms if timeout_ms > 0 else 2000) / 1000.0
        deadline = pbx.clock.now() + timeout
        while len(digits) < maxdigits:
            left = deadline - pbx.clock.now()
            if left <= 0:
                return AgiResult(f"200 result={digits} (timeout)")
            reason, value = await pbx.wait(chan, left, digits=True)
            if reason == WakeReason.TIMEOUT:
                return AgiResult(f"200 result={digits} (timeout)")
            if reason == WakeReason.HANGUP or (reason == WakeReason.REDIRECT and pbx.interrupted(chan)):
                return AgiResult("200 result=-1", code=-1)
            if reason == WakeReason.DTMF:
                if value == "#":
                    break
                digits += value
                deadline = pbx.clock.now() + timeout  # the timeout runs again after each digit
        return AgiResult(f"200 result={digits}")

    async def wait_for_digit(self, timeout_ms: int) -> AgiResult:
        pbx, chan = self.pbx, self.chan
        self._press_keys_later()
        deadline = None if timeout_ms < 0 else timeout_ms / 1000.0
        start = pbx.clock.now()
        while True:
            left = None if deadline is None else deadline - (pbx.clock.now() - start)
            if left is not None and left <= 0:
                return AgiResult("200 result=0")
            reason, value = await pbx.wait(chan, left, digits=True)
            if reason == WakeReason.TIMEOUT:
                return AgiResult("200 result=0")
            if reason == WakeReason.DTMF:
                return AgiResult(f"200 result={ord(value)}")
            if reason == WakeReason.HANGUP or (reason == WakeReason.REDIRECT and pbx.interrupted(chan)):
                return AgiResult("200 result=-1", code=-1)

    async def say(self, what: str, escape: str) -> AgiResult:
        pbx, chan = self.pbx, self.chan
        if escape:
            self._press_keys_later()
        per = 0.6
        for _ in what:
            reason, value = "timeout", ""
            start = pbx.clock.now()
            while True:
                left = per - (pbx.clock.now() - start)
                if left <= 0:
                    break
                reason, value = await pbx.wait(chan, left, digits=bool(escape))
                if reason == WakeReason.TIMEOUT:
                    break
                if reason == WakeReason.DTMF and value in escape:
                    return AgiResult(f"200 result={ord(value)}")
                if reason == WakeReason.HANGUP or (reason == WakeReason.REDIRECT and pbx.interrupted(chan)):
                    return AgiResult("200 result=-1", code=-1)
        return AgiResult("200 result=0")

    async def exec_app(self, app: str, data: str) -> AgiResult:
        pbx, chan = self.pbx, self.chan
        fn = pbx.apps.get(app.lower())
        if fn is None:
            return AgiResult("200 result=-2")
        # EXEC takes the application's arguments with "," (or "|") separators
        saved = (chan.application, chan.appdata)
        res = await fn(chan, data.replace("|", ","))
        chan.application, chan.appdata = saved
        if chan.call is not None and not chan.hungup:
            chan.call.enter("ivr", pbx.clock.now())
        if chan.soft_hangup or res < 0:
            return AgiResult("200 result=-1")
        return AgiResult("200 result=0")

    async def record_file(self, args: list[str]) -> AgiResult:
        """RECORD FILE <file> <format> <escape> <timeout ms> [offset] [BEEP] [s=<silence s>]."""
        pbx, chan = self.pbx, self.chan
        fname, fmt, escape = args[0], args[1], args[2]
        timeout_ms = int(args[3])
        silence_s: float | None = None
        for a in args[4:]:
            if a.lower().startswith("s="):
                silence_s = float(a[2:])
        if any(a.upper() == "BEEP" for a in args[4:]):
            outcome, _, _ = await self._play("beep", "", 0)
            if outcome == "hangup":
                return AgiResult("200 result=-1 (hangup) endpos=0")
        if escape:
            self._press_keys_later()
        src = chan.audio
        speech = src.speech_seconds() if src is not None else 0.0
        limit = timeout_ms / 1000.0 if timeout_ms > 0 else None
        end_by_silence = None
        if silence_s is not None:
            end_by_silence = speech + silence_s
        duration = min(x for x in (limit, end_by_silence, 3600.0) if x is not None)
        start = pbx.clock.now()
        outcome = "timeout"
        digit = ""
        while True:
            left = duration - (pbx.clock.now() - start)
            if left <= 0:
                break
            reason, value = await pbx.wait(chan, left, digits=bool(escape))
            if reason == WakeReason.TIMEOUT:
                break
            if reason == WakeReason.DTMF and value in escape:
                outcome, digit = "dtmf", value
                break
            if reason == WakeReason.HANGUP or (reason == WakeReason.REDIRECT and pbx.interrupted(chan)):
                outcome = "hangup"
                break
        elapsed = min(duration, pbx.clock.now() - start)
        if outcome == "timeout" and end_by_silence is not None and duration == end_by_silence and silence_s:
            # like Asterisk: on silence the file is rewound by (silence - 1 s) before it is closed
            elapsed = max(0.0, elapsed - max(0.0, silence_s - 1.0))
        nsamples = int(elapsed * audio.RATE)
        pcm = b""
        if src is not None:
            src.rewind()
            pcm = src.read(nsamples * 2)
        else:
            pcm = audio.silence(elapsed)
        path = Path(fname if fname.startswith("/") else str(pbx.config.recordings_dir / fname))
        path = path.with_name(path.name + "." + (fmt if fmt != "wav49" else "WAV"))
        await asyncio.to_thread(audio.write_wav, path, pcm)
        if outcome == "hangup":
            return AgiResult(f"200 result=-1 (hangup) endpos={nsamples}")
        if outcome == "dtmf":
            return AgiResult(f"200 result={ord(digit)} (dtmf) endpos={nsamples}")
        return AgiResult(f"200 result=0 (timeout) endpos={nsamples}")


def make_session(pbx: "Pbx", chan: Channel) -> AgiSession:
    return AgiSession(pbx, chan)


__all__ = ["AgiSession", "AgiResult", "agi_encode", "parse_agi_args", "make_session", "UP"]


AgiHook = Callable[[AgiSession], Awaitable[None]]
