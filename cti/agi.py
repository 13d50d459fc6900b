"""AsyncAGI over AMI: one :class:`AgiSession` per channel in ``AGI(agi:async)``.

Facts from the Asterisk 22 captures this module relies on (../shared/asterisk):

* ``AsyncAGIStart`` carries ``Env:``, the AGI environment percent-encoded
  (``%20``, ``%3A``, ``%0A``, UTF-8 bytes such as ``%E5%BC%A0``; ``(`` and ``)``
  are not encoded);
* ``Action: AGI`` with our own ``CommandID`` only queues the command; its result
  comes as ``AsyncAGIExec`` whose header is spelled ``CommandId`` and whose
  ``Result:`` is percent-encoded (``200%20result%3D1%0A``). The ``CommandId``
  of ``AGIExecStart``/``AGIExecEnd`` is an unrelated Asterisk integer;
* when the channel leaves AsyncAGI (hang-up, Redirect, ASYNCAGI BREAK) the
  running command reports its ``AsyncAGIExec``, then ``AsyncAGIEnd`` comes, and
  commands queued behind it never report: they are failed here at once;
* after ``AsyncAGIEnd`` Asterisk still *accepts* ``Action: AGI`` for a live
  channel and never runs it, so a session refuses commands once it has ended;
* the same channel can enter AsyncAGI again (a second ``AsyncAGIStart``): that
  is a new session.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

from cti.ami.client import AmiClient
from cti.ami.errors import AmiActionError, AmiError, AmiNotConnected
from cti.ami.protocol import Message
from hotline.logging import mask_number

log = logging.getLogger(__name__)

SessionHandler = Callable[["AgiSession"], Awaitable[Any]]

__all__ = [
    "AgiResult",
    "AgiError",
    "AgiHangup",
    "AgiTimeout",
    "AgiManager",
    "AgiSession",
    "agi_quote",
    "parse_env",
    "parse_result",
]


class AgiError(Exception):
    """An AGI command failed (5xx result, or the command could not be queued)."""

    def __init__(self, message: str, result: "AgiResult | None" = None) -> None:
        super().__init__(message)
        self.result = result


class AgiHangup(AgiError):
    """The channel hung up or left AsyncAGI (Redirect, ASYNCAGI BREAK, bridge)."""


class AgiTimeout(AgiError, TimeoutError):
    """No AsyncAGIExec arrived for the command in time."""


@dataclass(frozen=True, slots=True)
class AgiResult:
    code: int  # 200, or 5xx
    result: str  # the text after "result=" ("1", "", "42", "-1")
    data: str | None  # the parenthesised part: "timeout", a variable's value, ...
    endpos: int | None
    timeout: bool  # "(timeout)" was reported
    raw: str  # decoded result line(s), without the final newline

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def value(self) -> int | None:
        """``result`` as an integer, or None if empty/non-numeric."""
        try:
            return int(self.result)
        except ValueError:
            return None


_RESULT_RE = re.compile(r"^(\d{3})(?:[ -](.*))?$", re.S)
_ENDPOS_RE = re.compile(r"\bendpos=(-?\d+)")


def parse_result(raw: str) -> AgiResult:
    """Parse a decoded AGI result line: ``200 result=1 (value) endpos=N`` or ``5xx text``."""
    text = raw[:-1] if raw.endswith("\n") else raw
    m = _RESULT_RE.match(text)
    if m is None:
        return AgiResult(0, "", None, None, False, text)
    code = int(m.group(1))
    rest = m.group(2) or ""
    if code != 200 or not rest.startswith("result="):
        return AgiResult(code, "", rest or None, None, False, text)
    body = rest[len("result="):]
    # result value runs to the first space; then an optional "(data)" and/or "endpos=N"
    value, _, tail = body.partition(" ")
    data: str | None = None
    endpos: int | None = None
    if tail.startswith("("):
        close = tail.rfind(")")
        if close > 0:
            data = tail[1:close]
            tail = tail[close + 1:]
        else:
            data = tail[1:]
            tail = ""
    em = _ENDPOS_RE.search(tail)
    if em is not None:
        endpos = int(em.group(1))
    return AgiResult(code, value, data, endpos, data == "timeout", text)


def parse_env(encoded: str) -> dict[str, str]:
    """Decode an ``AsyncAGIStart`` ``Env:`` value into ``{"agi_channel": ..., ...}``."""
    text = unquote(encoded, encoding="utf-8", errors="replace")
    env: dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        env[key.strip()] = value[1:] if value.startswith(" ") else value
    return env


_NEEDS_QUOTES = re.compile(r'[\s"\\]')


def agi_quote(arg: str | int, always: bool = False) -> str:
    """Quote one AGI argument: bare if safe, else in double quotes with ``\\`` and ``"`` escaped.

    UTF-8 text is passed as is. Line breaks are refused (they would end the command).
    """
    s = str(arg)
    if "\r" in s or "\n" in s:
        raise ValueError("AGI arguments cannot contain line breaks")
    if not always and s and not _NEEDS_QUOTES.search(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _verb(cmd: str) -> str:
    """The command's name for messages ("GET DATA", "EXEC"), never its arguments (they may be personal data)."""
    words = cmd.split(None, 2)
    if len(words) > 1 and words[1].isalpha() and words[1].isupper():
        return f"{words[0]} {words[1]}"
    return words[0] if words else ""


class AgiSession:
    """One AsyncAGI session on one channel. Create through :class:`AgiManager` only."""

    def __init__(self, manager: "AgiManager", msg: Message, env: dict[str, str], seq: int) -> None:
        self._manager = manager
        self.channel: str = msg.get("Channel") or env.get("agi_channel", "")
        self.uniqueid: str = msg.get("Uniqueid") or env.get("agi_uniqueid", "")
        self.linkedid: str = msg.get("Linkedid") or ""
        self.env = env
        self.seq = seq  # 1 for the channel's first session, 2 after re-entering AGI, ...
        self.ended_reason: str | None = None
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        state = "active" if self.active else f"ended:{self.ended_reason}"
        return f"<AgiSession {self.channel} #{self.seq} {state}>"

    @property
    def active(self) -> bool:
        return self.ended_reason is None

    @property
    def caller_number(self) -> str:
        return self.env.get("agi_callerid", "")

    @property
    def caller_name(self) -> str:
        return self.env.get("agi_calleridname", "")

    # -- commands ------------------------------------------------------
    async def command(self, cmd: str, timeout: float | None = None) -> AgiResult:
        """Run one AGI command; see docs/ARCHITECTURE.md for the errors raised."""
        mgr = self._manager
        if not self.active:
            raise AgiHangup(f"{self.channel} is not in AsyncAGI ({self.ended_reason}); {_verb(cmd)} refused")
        t = mgr.default_timeout if timeout is None else timeout
        cid = mgr._next_command_id()
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[cid] = fut
        mgr._commands[cid] = self
        try:
            async with asyncio.timeout(t):
                try:
                    await mgr.client.action(
                        "AGI", {"Channel": self.channel, "Command": cmd, "CommandID": cid}, timeout=t
                    )
                except AmiActionError as exc:
                    if not self.active or "does not exist" in exc.message:
                        self._end("channel gone")
                        raise AgiHangup(f"{self.channel}: {exc.message}") from None
                    raise AgiError(f"AGI {_verb(cmd)} on {self.channel} refused: {exc.message}") from None
                raw = await fut
        except TimeoutError:
            raise AgiTimeout(f"AGI {_verb(cmd)} on {self.channel}: no result within {t:g}s") from None
        finally:
            self._pending.pop(cid, None)
            mgr._commands.pop(cid, None)
        res = parse_result(raw)
        if not res.ok:
            raise AgiError(f"AGI {_verb(cmd)} on {self.channel} failed: {res.raw}", res)
        return res

    async def stream_file(
        self, name: str, escape_digits: str = "", offset: int | None = None, timeout: float | None = None
    ) -> tuple[str | None, int | None]:
        """Play a file; return (digit pressed or None, end position in samples).

        ``result=-1`` (playback cut short by a hang-up or a Redirect) also gives
        ``(None, endpos)``: AsyncAGIEnd follows and the next command raises AgiHangup.
        """
        cmd = f"STREAM FILE {agi_quote(name)} {agi_quote(escape_digits, always=True)}"
        if offset is not None:
            cmd += f" {int(offset)}"
        r = await self.command(cmd, timeout)
        v = r.value
        digit = chr(v) if v is not None and v > 0 else None
        return digit, r.endpos

    async def get_data(
        self, name: str, timeout_ms: int | None = None, max_digits: int | None = None, timeout: float | None = None
    ) -> tuple[str, bool]:
        """Play a prompt and collect digits: (digits, timed_out). ``#`` ends input and is not included."""
        cmd = f"GET DATA {agi_quote(name)}"
        if timeout_ms is not None:
            cmd += f" {int(timeout_ms)}"
            if max_digits is not None:
                cmd += f" {int(max_digits)}"
        r = await self.command(cmd, timeout)
        if r.result == "-1":
            raise AgiHangup(f"{self.channel}: GET DATA interrupted (hang-up)", r)
        return r.result, r.timeout

    async def wait_for_digit(self, timeout_ms: int, timeout: float | None = None) -> str | None:
        r = await self.command(f"WAIT FOR DIGIT {int(timeout_ms)}", timeout)
        v = r.value
        if v is not None and v < 0:
            raise AgiHangup(f"{self.channel}: WAIT FOR DIGIT interrupted (hang-up)", r)
        return chr(v) if v else None

    async def set_variable(self, name: str, value: str, timeout: float | None = None) -> None:
        await self.command(f"SET VARIABLE {agi_quote(name)} {agi_quote(value)}", timeout)

    async def get_variable(self, name: str, timeout: float | None = None) -> str | None:
        r = await self.command(f"GET VARIABLE {agi_quote(name)}", timeout)
        return r.data if r.result == "1" else None

    async def get_full_variable(self, expression: str, timeout: float | None = None) -> str | None:
        """Evaluate an expression such as ``${CALLERID(name)}`` on the channel."""
        r = await self.command(f"GET FULL VARIABLE {agi_quote(expression)}", timeout)
        return r.data if r.result == "1" else None

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> AgiResult:
        cmd = f"EXEC {agi_quote(app)}"
        if args:
            cmd += f" {agi_quote(args, always=True)}"
        return await self.command(cmd, timeout)

    async def verbose(self, message: str, level: int = 1, timeout: float | None = None) -> None:
        await self.command(f"VERBOSE {agi_quote(message, always=True)} {int(level)}", timeout)

    async def answer(self, timeout: float | None = None) -> AgiResult:
        return await self.command("ANSWER", timeout)

    async def hangup(self, timeout: float | None = None) -> AgiResult:
        return await self.command("HANGUP", timeout)

    async def break_(self, timeout: float | None = None) -> AgiResult:
        """``ASYNCAGI BREAK``: leave AsyncAGI, the dialplan continues after AGI()."""
        return await self.command("ASYNCAGI BREAK", timeout)

    # -- life cycle (called by the manager) -------------------------------
    def _end(self, reason: str, exc: BaseException | None = None) -> None:
        if self.ended_reason is None:
            self.ended_reason = reason
        self._fail_pending(exc or AgiHangup(f"{self.channel} left AsyncAGI ({reason})"))

    def _fail_pending(self, exc: BaseException) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(type(exc)(*exc.args))  # one instance per waiter
                fut.exception()  # the waiter may already be gone (its AMI action failed first)

    def _cancel_tasks(self) -> None:
        for t in list(self._tasks):
            t.cancel()


class AgiManager:
    """Tracks AsyncAGI sessions from AMI events and runs a handler per session."""

    def __init__(self, client: AmiClient, default_timeout: float = 30.0, resync_on_connect: bool = True) -> None:
        self.client = client
        self.default_timeout = default_timeout
        self._sessions: dict[str, AgiSession] = {}  # channel -> current session
        self._earlier: dict[str, list[AgiSession]] = {}  # channel -> ended sessions whose tasks may still run
        self._commands: dict[str, AgiSession] = {}  # our CommandID -> session
        self._handlers: list[SessionHandler] = []
        self._seq: dict[str, int] = {}
        self._suspect: dict[str, AgiSession] = {}  # sessions alive when the AMI link dropped
        self._cmd_ids = itertools.count(1)
        self._cmd_prefix = f"agi{secrets.token_hex(3)}"
        self._tasks: set[asyncio.Task[Any]] = set()
        self.session_errors = 0
        self._unsubscribe = client.subscribe(
            self._on_event, "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "Hangup"
        )
        self._remove_disc = client.on_disconnect(self._on_disconnect)
        self._remove_conn = client.on_connect(self._resync) if resync_on_connect else None

    def close(self) -> None:
        """Unsubscribe; end every session and cancel its tasks."""
        self._unsubscribe()
        self._remove_disc()
        if self._remove_conn is not None:
            self._remove_conn()
        for ch in list(self._sessions) + list(self._earlier):
            self._hangup(ch, "manager closed")
        for t in list(self._tasks):
            t.cancel()

    def on_session(self, fn: SessionHandler) -> Callable[[], None]:
        """Run ``await fn(session)`` as a supervised task for every new session."""
        self._handlers.append(fn)
        return lambda: self._handlers.remove(fn) if fn in self._handlers else None

    def session(self, channel: str) -> AgiSession | None:
        return self._sessions.get(channel)

    @property
    def sessions(self) -> list[AgiSession]:
        return list(self._sessions.values())

    @property
    def pending_commands(self) -> int:
        return len(self._commands)

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        return set(self._tasks)

    def _next_command_id(self) -> str:
        return f"{self._cmd_prefix}-{next(self._cmd_ids)}"

    # -- events ----------------------------------------------------------
    def _on_event(self, msg: Message) -> None:
        name = msg.name
        if name == "AsyncAGIExec":
            cid = msg.fields.get("CommandId") or msg.get("CommandID")
            sess = self._commands.get(cid) if cid else None
            if sess is None:
                return
            fut = sess._pending.get(cid)  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(unquote(msg.get("Result") or "", encoding="utf-8", errors="replace"))
        elif name == "AsyncAGIStart":
            self._start(msg)
        elif name == "AsyncAGIEnd":
            ch = msg.get("Channel") or ""
            sess = self._sessions.get(ch)
            if sess is not None:
                sess._end("AsyncAGIEnd")
        elif name == "Hangup":
            ch = msg.get("Channel") or ""
            self._hangup(ch, "hangup")

    def _start(self, msg: Message) -> None:
        env = parse_env(msg.get("Env") or "")
        ch = msg.get("Channel") or env.get("agi_channel", "")
        old = self._sessions.get(ch)
        if old is not None:
            old._end("restarted")
            if old._tasks:
                self._earlier.setdefault(ch, []).append(old)
        seq = self._seq.get(ch, 0) + 1
        self._seq[ch] = seq
        sess = AgiSession(self, msg, env, seq)
        self._sessions[ch] = sess
        log.info("AsyncAGI session on %s from %s (#%d)", ch, mask_number(sess.caller_number), seq)
        for fn in list(self._handlers):
            self._spawn(sess, fn)

    def _spawn(self, sess: AgiSession, fn: SessionHandler) -> None:
        name = getattr(fn, "__qualname__", repr(fn))

        async def run() -> None:
            try:
                await fn(sess)
            except asyncio.CancelledError:
                raise
            except AgiHangup as exc:
                log.info("AsyncAGI session %s ended in %s: %s", sess.channel, name, exc)
            except AmiNotConnected as exc:
                log.warning("AsyncAGI session %s in %s lost the AMI link: %s", sess.channel, name, exc)
            except Exception:
                self.session_errors += 1
                log.exception("AsyncAGI session handler %s failed on %s", name, sess.channel)

        t = asyncio.get_running_loop().create_task(run(), name=f"agi:{sess.channel}#{sess.seq}")
        sess._tasks.add(t)
        self._tasks.add(t)
        t.add_done_callback(sess._tasks.discard)
        t.add_done_callback(self._tasks.discard)

    def _on_disconnect(self, exc: BaseException | None) -> None:
        # Results sent while the link was down are lost: fail every pending command now.
        err = AmiNotConnected("AMI link lost while the AGI command was pending")
        for ch, sess in self._sessions.items():
            sess._fail_pending(err)
            self._suspect[ch] = sess

    async def _resync(self) -> None:
        """After a reconnect: end sessions whose channel disappeared while the link was down.

        Only sessions that existed when the link dropped are checked; a session
        that started after the new login is known to be alive.
        """
        if not self._suspect:
            return
        try:
            items = await self.client.list_action("CoreShowChannels")
        except AmiError as exc:
            log.warning("AsyncAGI resync failed: %s", exc)
            return  # still suspect: checked again after the next login
        apps = {m.get("Channel"): m.get("Application") for m in items}
        suspects, self._suspect = self._suspect, {}
        for ch, sess in suspects.items():
            if self._sessions.get(ch) is not sess:
                continue  # ended or restarted meanwhile
            if ch not in apps:
                self._hangup(ch, "channel gone after reconnect")
            elif apps[ch] != "AGI" and sess.active:
                # alive but no longer in AGI(): Asterisk would accept commands and never run them
                sess._end("left AsyncAGI while the AMI link was down")

    def _hangup(self, ch: str, reason: str) -> None:
        self._suspect.pop(ch, None)
        sessions = self._earlier.pop(ch, [])
        sess = self._sessions.pop(ch, None)
        if sess is not None:
            sessions.append(sess)
        self._seq.pop(ch, None)
        for s in sessions:
            s._end(reason)
            s._cancel_tasks()
