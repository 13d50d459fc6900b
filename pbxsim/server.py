"""AMI over TCP, as Asterisk 22 serves it.

* banner ``Asterisk Call Manager/11.0.0\\r\\n`` (no empty line);
* lenient requests: header and action names case-insensitive, optional space
  after the colon, bare-LF lines accepted, trailing spaces kept;
* ``Response`` first, ``ActionID`` (echoed byte for byte) second;
* failed Login: ``Authentication failed`` after a 1 s delay, then close;
* Logoff: ``Goodbye`` / ``Thanks for all the fish.``, then close.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from cti.ami.protocol import encode_headers

from .engine import P_SECURITY, P_SYSTEM, encode_event

if TYPE_CHECKING:  # pragma: no cover
    from .actions import ActionHandler

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_END = re.compile(rb"\r?\n\r?\n")
ALL_CLASSES = frozenset({"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
                         "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
                         "message"})


def parse_request(block: bytes) -> list[tuple[str, str]]:
    """One request's headers, in order (names as sent; values with leading blanks skipped)."""
    text = block.decode("utf-8", "replace")
    out: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        out.append((key.strip(), value.lstrip(" \t")))
    return out


@dataclass
class Request:
    headers: list[tuple[str, str]]
    _lower: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k, v in self.headers:
            self._lower.setdefault(k.lower(), v)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._lower.get(key.lower(), default)

    def get_all(self, key: str) -> list[str]:
        lk = key.lower()
        return [v for k, v in self.headers if k.lower() == lk]

    @property
    def action(self) -> str | None:
        return self._lower.get("action")

    @property
    def action_id(self) -> str | None:
        return self._lower.get("actionid")


def ami_time(ts: float) -> str:
    d = datetime.fromtimestamp(ts, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(d.microsecond / 1000):03d}+0000"


class AmiSession(asyncio.Protocol):
    def __init__(self, server: "AmiServer") -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.authenticated = False
        self.username = ""
        self.events_on = True
        self.classes: frozenset[str] = ALL_CLASSES
        self.closing = False
        self.session_id = f"0x{next(server._ids):012x}"
        self.peer = ("127.0.0.1", 0)
        self.local = ("127.0.0.1", 0)
        self.login_tv = ""
        self.queue: asyncio.Queue[Request] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self._out: list[bytes] = []  # coalesced writes, flushed once per loop iteration

    # -- asyncio.Protocol --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        if peer:
            self.peer = (peer[0], peer[1])
        if sock:
            self.local = (sock[0], sock[1])
        self.server.sessions.add(self)
        transport.write(BANNER)
        self.worker = asyncio.ensure_future(self._work())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            m = _END.search(self.buf)
            if m is None:
                break
            block = self.buf[: m.start()]
            self.buf = self.buf[m.end() :]
            headers = parse_request(block)
            if headers:
                self.queue.put_nowait(Request(headers))
        if len(self.buf) > 1 << 20:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.sessions.discard(self)
        self.closing = True
        if self.worker is not None:
            self.worker.cancel()

    # -- writing -----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        t = self.transport
        if t is None or self.closing or t.is_closing():
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        t = self.transport
        out, self._out = self._out, []
        if t is None or t.is_closing() or not out:
            return
        t.write(b"".join(out))
        if t.get_write_buffer_size() > self.server.write_limit:
            log.warning("AMI client %s too slow; disconnecting", self.peer)
            self.close()

    def respond(self, action_id: str | None, status: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        h: list[tuple[str, str]] = [("Response", status)]
        if action_id is not None:
            h.append(("ActionID", action_id))
        h.extend(headers)
        self.write(encode_headers(h))

    def send_event(self, name: str, headers: Iterable[tuple[str, str]], privilege: str | None = None) -> None:
        self.write(encode_event(name, privilege, headers))

    def close(self) -> None:
        self._flush()
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def wants(self, privilege: str) -> bool:
        if not self.authenticated or not self.events_on:
            return False
        if self.classes is ALL_CLASSES:
            return True
        cls = privilege.split(",", 1)[0]
        return cls in self.classes

    def security_headers(self) -> list[tuple[str, str]]:
        return [
            ("SessionID", self.session_id),
            ("LocalAddress", f"IPV4/TCP/{self.local[0]}/{self.local[1]}"),
            ("RemoteAddress", f"IPV4/TCP/{self.peer[0]}/{self.peer[1]}"),
        ]

    # -- requests -------------------------------------------------------------------------
    async def _work(self) -> None:
        try:
            while not self.closing:
                req = await self.queue.get()
                try:
                    await self.server.handler.handle(self, req)
                except Exception:  # noqa: BLE001 - one bad request must not kill the session
                    log.exception("AMI action failed")
                    self.respond(req.action_id, "Error", [("Message", "Internal error")])
        except asyncio.CancelledError:
            pass

    def set_event_mask(self, mask: str | None) -> None:
        if mask is None:
            return
        m = mask.strip().lower()
        if m in ("off", "no", "false", "0", "none"):
            self.events_on = False
        elif m in ("on", "yes", "true", "all", "1"):
            self.events_on = True
            self.classes = ALL_CLASSES
        else:
            self.events_on = True
            self.classes = frozenset(c.strip() for c in m.split(",") if c.strip())


class AmiServer:
    def __init__(self, handler: "ActionHandler", host: str, port: int, write_limit: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.write_limit = write_limit
        self.sessions: set[AmiSession] = set()
        self.server: asyncio.base_events.Server | None = None
        self._ids = itertools.count(0x7F0840000000)

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: AmiSession(self), self.host, self.port, reuse_address=True)
        sock = self.server.sockets[0]
        self.port = sock.getsockname()[1]
        return self.port

    def broadcast(self, name: str, privilege: str, data: bytes) -> None:
        for s in self.sessions:
            if s.wants(privilege):
                s.write(data)

    def broadcast_security(self, name: str, headers: list[tuple[str, str]]) -> None:
        self.broadcast(name, P_SECURITY, encode_event(name, P_SECURITY, headers))

    async def close_all(self, shutdown_event: bool = True) -> None:
        if shutdown_event:
            data = encode_event("Shutdown", P_SYSTEM, [("Shutdown", "Cleanly"), ("Restart", "False")])
            self.broadcast("Shutdown", P_SYSTEM, data)
        for s in list(self.sessions):
            s.close()
        self.sessions.clear()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
