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
  is a new session;
* ``Action: Bridge`` takes a channel out of AsyncAGI with ``BridgeEnter`` and
  *no* ``AsyncAGIEnd`` (live Asterisk 22.10.1); when the bridge ends the
  dialplan continues after ``AGI()``, still without ``AsyncAGIEnd``. So a
  ``BridgeEnter`` of a session's channel ends the session ("left AGI
  (bridged)") exactly like ``AsyncAGIEnd`` (unless the session's own ``EXEC``
  is running: an application run from AGI may bridge and come back);
* events sent while the AMI link is down are lost. After every login the
  manager lists the channels (``CoreShowChannels``) and *adopts* each one that
  is in ``AGI(agi:async)`` without a session driving it (its ``AsyncAGIStart``
  was missed, or its session's handler ended on the link loss): a new session
  with ``resumed = True`` and an environment built from the snapshot goes to
  the same ``on_session`` handlers.
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
        # True for a session adopted after a (re)login: the channel was already in AsyncAGI and
        # its AsyncAGIStart was missed or the handler driving it ended on the link loss
        self.resumed = False
        self._link_lost = False  # alive when the AMI link dropped
        # a HangupRequest/SoftHangupRequest was seen for the channel: a result=-1 is the caller
        # (or the PBX) hanging up, not e.g. a prompt Asterisk could not find
        self.hangup_requested = False
        self._handled = False  # on_session handlers were started for it
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._verbs: dict[str, str] = {}  # CommandID -> verb of the pending command
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
        self._verbs[cid] = _verb(cmd).upper()
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
                self._link_lost = False  # driven again since the reconnect: not an orphan
        except TimeoutError:
            raise AgiTimeout(f"AGI {_verb(cmd)} on {self.channel}: no result within {t:g}s") from None
        finally:
            self._pending.pop(cid, None)
            self._verbs.pop(cid, None)
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

    @property
    def _running_exec(self) -> bool:
        return any(v == "EXEC" for cid, v in self._verbs.items() if cid in self._pending)

    @property
    def _driven(self) -> bool:
        """A handler task is still running for this session."""
        return any(not t.done() for t in self._tasks)

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
        self._closed = False
        self._gone: set[str] = set()  # channels hung up since the last scan began
        self._unsubscribe = client.subscribe(
            self._on_event, "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "BridgeEnter", "Hangup",
            "HangupRequest", "SoftHangupRequest",
        )
        self._adopt_lock = asyncio.Lock()
        self.adopted = 0  # sessions adopted after a (re)login
        self._remove_disc = client.on_disconnect(self._on_disconnect)
        self._remove_conn = client.on_connect(self._resync) if resync_on_connect else None

    def close(self) -> None:
        """Unsubscribe; end every session and cancel its tasks."""
        self._closed = True
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

    @property
    def _link_up(self) -> bool:
        return bool(getattr(self.client, "connected", True))

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
        elif name == "BridgeEnter":
            # Action: Bridge pulls the channel out of AsyncAGI with no AsyncAGIEnd (live Asterisk 22)
            ch = msg.get("Channel") or ""
            sess = self._sessions.get(ch)
            if sess is not None and sess.active and not sess._running_exec:
                sess._end("left AGI (bridged)")
        elif name == "Hangup":
            ch = msg.get("Channel") or ""
            self._hangup(ch, "hangup")
        elif name in ("HangupRequest", "SoftHangupRequest"):
            sess = self._sessions.get(msg.get("Channel") or "")
            if sess is not None:
                sess.hangup_requested = True

    def _start(self, msg: Message, env: dict[str, str] | None = None, resumed: bool = False) -> None:
        if env is None:
            env = parse_env(msg.get("Env") or "")
        ch = msg.get("Channel") or env.get("agi_channel", "")
        self._suspect.pop(ch, None)
        old = self._sessions.get(ch)
        if old is not None:
            old._end("restarted")
            if old._tasks:
                self._earlier.setdefault(ch, []).append(old)
        seq = self._seq.get(ch, 0) + 1
        self._seq[ch] = seq
        sess = AgiSession(self, msg, env, seq)
        sess.resumed = resumed
        self._sessions[ch] = sess
        log.info("AsyncAGI session on %s from %s (#%d%s)", ch, mask_number(sess.caller_number), seq,
                 ", adopted after a reconnect" if resumed else "")
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
        sess._handled = True
        sess._tasks.add(t)
        self._tasks.add(t)
        t.add_done_callback(sess._tasks.discard)
        t.add_done_callback(self._tasks.discard)
        t.add_done_callback(lambda _t: self._handler_done(sess))

    def _handler_done(self, sess: AgiSession) -> None:
        """A handler ended: if the link loss ended it while the channel is still in AGI, adopt again.

        The login's scan may have run while this handler was still finishing; then it left the
        channel alone (it was driven) and this is the moment to look again.
        """
        if not (sess._link_lost and sess.active and not sess._driven and self._link_up):
            return
        if self._sessions.get(sess.channel) is not sess or self._closed:
            return
        t = asyncio.get_running_loop().create_task(self._adopt(), name=f"agi-adopt:{sess.channel}")
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _on_disconnect(self, exc: BaseException | None) -> None:
        # Results sent while the link was down are lost: fail every pending command now.
        err = AmiNotConnected("AMI link lost while the AGI command was pending")
        for ch, sess in self._sessions.items():
            sess._fail_pending(err)
            sess._link_lost = True
            self._suspect[ch] = sess

    async def _resync(self) -> None:
        """After every login: reconcile the sessions with the PBX's channels, then adopt orphans.

        Sessions that existed when the link dropped are checked: ended if their channel is
        gone or no longer in AGI(). Then every channel in ``AGI(agi:async)`` that no handler
        drives gets a new session (see :meth:`_adopt`).
        """
        await self._adopt()

    async def _adopt(self) -> None:
        async with self._adopt_lock:
            self._gone = set()
            try:
                items = await self.client.list_action("CoreShowChannels")
            except AmiError as exc:
                log.warning("AsyncAGI resync failed: %s", exc)
                return  # still suspect: checked again after the next login
            self._reconcile(items)
            for m in items:
                if self._closed or not self._link_up:
                    return
                if not _in_async_agi(m) or m.get("BridgeId"):
                    continue  # (a bridged channel is not driven over AGI even if AGI() is its app)
                ch = m.get("Channel") or ""
                if not ch:
                    continue
                cur = self._sessions.get(ch)
                if cur is not None and cur.active and not (cur._link_lost and cur._handled and not cur._driven):
                    continue  # driven by a live session (or one nobody handles)
                env = self._snapshot_env(m)
                dnis = await self._getvar(ch, "HOTLINE_DNIS")
                if dnis:
                    env["agi_dnid"] = dnis
                now = self._sessions.get(ch)
                if now is not cur:
                    continue  # an AsyncAGIStart (or a hang-up) came meanwhile: that one counts
                if now is None and ch in self._gone:
                    continue
                if cur is not None:
                    cur._end("superseded after a reconnect")
                self.adopted += 1
                self._start(_FakeStart(ch, env["agi_uniqueid"], env["agi_linkedid"]), env, resumed=True)

    def _reconcile(self, items: list[Message]) -> None:
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

    @staticmethod
    def _snapshot_env(m: Message) -> dict[str, str]:
        """The AGI environment the engine needs, from a ``CoreShowChannel`` item."""
        def val(key: str, unknown: str = "unknown") -> str:
            v = m.get(key) or ""
            return unknown if v in ("", "<unknown>") else v

        env = {
            "agi_request": "async",
            "agi_channel": m.get("Channel") or "",
            "agi_uniqueid": m.get("Uniqueid") or "",
            "agi_callerid": val("CallerIDNum"),
            "agi_calleridname": val("CallerIDName"),
            "agi_dnid": "unknown",
            "agi_context": m.get("Context") or "",
            "agi_extension": m.get("Exten") or "",
            "agi_priority": m.get("Priority") or "",
            "agi_language": m.get("Language") or "",
            "agi_accountcode": m.get("AccountCode") or "",
            "agi_linkedid": m.get("Linkedid") or "",
        }
        return env

    async def _getvar(self, ch: str, name: str) -> str:
        try:
            r = await self.client.action("Getvar", {"Channel": ch, "Variable": name}, timeout=5)
        except (AmiError, TimeoutError):
            return ""
        v = r.get("Value") or ""
        return "" if v == "(null)" else v

    def _hangup(self, ch: str, reason: str) -> None:
        self._suspect.pop(ch, None)
        self._gone.add(ch)
        sessions = self._earlier.pop(ch, [])
        sess = self._sessions.pop(ch, None)
        if sess is not None:
            sessions.append(sess)
        self._seq.pop(ch, None)
        for s in sessions:
            s._end(reason)
            s._cancel_tasks()


def _in_async_agi(m: Message) -> bool:
    """A ``CoreShowChannel`` item of a channel running ``AGI(agi:async...)``."""
    if (m.get("Application") or "") != "AGI":
        return False
    data = m.get("ApplicationData") or m.get("Data") or ""
    return data.strip().lower().startswith("agi:async")


class _FakeStart:
    """What :meth:`AgiManager._start` reads from an ``AsyncAGIStart``, for an adopted channel."""

    name = "AsyncAGIStart"

    def __init__(self, channel: str, uniqueid: str, linkedid: str) -> None:
        self._h = {"Channel": channel, "Uniqueid": uniqueid, "Linkedid": linkedid}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._h.get(key, default)
