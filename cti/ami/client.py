"""AMI connection: login, heartbeat, reconnect, actions with timeouts, event dispatch.

Built on panoramisk 1.4 (:class:`panoramisk.Manager` opens the TCP connection,
:class:`panoramisk.ami_protocol.AMIProtocol` is the base of the protocol), with
every part that misbehaves against a real Asterisk replaced:

* bytes are framed and decoded by :mod:`cti.ami.protocol` (per complete
  message, no character ever dropped, empty last header kept);
* responses are matched by our own ActionIDs (``<prefix>-<n>``) only; a
  ``... successfully queued`` response is an ordinary response; list actions
  end on ``EventList: Complete`` with the same ActionID;
* every action has a timeout (:class:`AmiTimeout` names the action); an action
  on a down link fails at once (:class:`AmiNotConnected`), nothing waits for
  ``FullyBooted`` (Asterisk accepts logins before it has booted);
* a Ping is sent every ``ping_interval``; no Pong within ``pong_timeout`` means
  the link is half-open: it is aborted and re-established;
* reconnects back off exponentially with jitter up to ``reconnect_max``; the
  delay resets after a good login; a refused login is logged once per attempt;
* events go from the reader through a bounded in-memory queue (one batch per
  socket read) to one supervised consumer task that calls subscribers in order;
  the reader never blocks or awaits, a full queue drops and counts, a raising
  handler is logged (once per handler) and counted and the others still run.
  The reader only frames and matches responses (and, while a list action is
  pending, its item events); events cross the queue as raw blocks and the
  consumer parses each one right before dispatching it, which keeps the
  ingest hot path cache-friendly (see bench/ami_ingest.py);
* Asterisk's ``Shutdown`` event closes the link at once (it restarts or stops);
  the reconnect loop takes over.

Hooks: :meth:`AmiClient.on_connect` coroutines run as supervised tasks after
every login (resync); :meth:`AmiClient.on_disconnect` callables run when a
logged-in link is lost; pending actions then fail with AmiNotConnected.

Thread safety: every method must be called on the client's event loop. From
another thread use :meth:`AmiClient.call_soon_threadsafe_action`, or
``asyncio.run_coroutine_threadsafe(client.action(...), client.loop)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import random
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from cti.ami.errors import AmiActionError, AmiAuthError, AmiError, AmiNotConnected, AmiTimeout
from cti.ami.protocol import Framer, FramingStats, HeaderInput, Message, encode_action, parse_block
from hotline.settings import AmiSettings

log = logging.getLogger(__name__)

Handler = Callable[[Message], Any]
ConnectHook = Callable[[], Awaitable[Any]]
DisconnectHook = Callable[[BaseException | None], Any]

__all__ = [
    "AmiClient",
    "AmiStats",
    "AmiProtocol",
    "Backoff",
    "AmiError",
    "AmiActionError",
    "AmiAuthError",
    "AmiNotConnected",
    "AmiTimeout",
]


@dataclass
class AmiStats:
    """A snapshot of the client's counters (see :attr:`AmiClient.stats`)."""

    connected: bool = False
    events_received: int = 0  # events read off the socket
    events_dispatched: int = 0  # events handed to subscribers
    events_per_second: float = 0.0  # over the last full second of reading
    responses_received: int = 0
    queue_depth: int = 0  # events waiting for the consumer
    queue_high_water: int = 0
    dropped: int = 0  # events dropped because the queue was full
    overflow_resyncs: int = 0  # resynchronisations run because events were dropped
    handler_errors: int = 0
    handler_errors_by_name: dict[str, int] = field(default_factory=dict)
    actions_sent: int = 0
    action_timeouts: int = 0
    unmatched_responses: int = 0
    connects: int = 0  # TCP connections established
    logins: int = 0  # successful logins
    reconnects: int = 0  # successful logins after the first
    connect_failures: int = 0  # refused / timed-out TCP connects
    login_failures: int = 0
    pongs_missed: int = 0
    last_backoff: float = 0.0
    bytes_in: int = 0
    malformed: int = 0  # blocks that were neither an event nor a response
    decode_errors: int = 0  # messages that were not valid UTF-8 (delivered with bad bytes escaped)
    oversized: int = 0  # frames over max_message, dropped


class Backoff:
    """Exponential backoff with "equal jitter": delay in [d/2, d], d = min(cap, initial * 2**n)."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None) -> None:
        self.initial = max(initial, 0.001)
        self.cap = max(cap, self.initial)
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        d = min(self.cap, self.initial * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return d / 2 + self._rng.random() * d / 2

    def reset(self) -> None:
        self.attempt = 0


class _Pending:
    __slots__ = ("name", "future", "items", "is_list", "timer", "started")

    def __init__(self, name: str, future: asyncio.Future[Any], is_list: bool) -> None:
        self.name = name
        self.future = future
        self.items: list[Message] | None = [] if is_list else None
        self.is_list = is_list
        self.timer: asyncio.TimerHandle | None = None
        self.started = False  # list action: the Success/EventList start response arrived


class AmiProtocol(AMIProtocol):
    """One TCP connection's protocol: frames bytes and hands messages to the client.

    Replaces panoramisk's ``data_received`` (lossy decoding, its own response
    matching) and ``close``/``connection_lost`` (re-queueing of unsent actions).
    """

    def __init__(self, client: "AmiClient") -> None:
        self._client = client
        self.framer = Framer(max_message=client.max_message)
        self.transport: asyncio.Transport | None = None  # type: ignore[assignment]
        self.closed = False
        self.lost: asyncio.Future[BaseException | None] = client.loop.create_future()
        self.banner: asyncio.Future[str] = client.loop.create_future()
        self._have_banner = False
        self._feed = self.framer.feed_raw

    # panoramisk names kept: send(), close(), data_received(), connection_lost()
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.closed = False

    def data_received(self, data: bytes) -> None:
        blocks = self._feed(data)
        if not self._have_banner and self.framer.banner is not None:
            self._have_banner = True
            self.banner.set_result(self.framer.banner)
        if blocks:
            self._client._blocks(blocks)
            # only the first block can have started in an earlier read
            if (b"Event: Shutdown\r\n" in data or blocks[0].startswith(b"Event: Shutdown\r\n")) and any(
                b.startswith(b"Event: Shutdown\r\n") for b in blocks
            ):
                log.warning("Asterisk is shutting down; closing the AMI link")
                self.close()
        self._client._tick()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def send(self, data: bytes) -> None:  # type: ignore[override]
        if self.closed or self.transport is None or self.transport.is_closing():
            raise AmiNotConnected("AMI link is down")
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(exc)
        if not self.banner.done():
            self.banner.set_exception(AmiNotConnected("connection closed before the AMI banner"))
            self.banner.exception()  # mark retrieved
        self._client._connection_lost(self, exc)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()


class _Link(Manager):
    """panoramisk's Manager reduced to what it does right: holding the
    connection settings and opening the TCP connection with our protocol.

    Its login, pinger, fixed 2 s reconnect, re-sending of unsent actions and
    fire-and-forget dispatch are disabled; :class:`AmiClient` does those.
    """

    def __init__(self, client: "AmiClient", settings: AmiSettings) -> None:
        super().__init__(
            host=settings.host,
            port=settings.port,
            loop=client.loop,
            protocol_factory=lambda: AmiProtocol(client),
            ping_delay=0,
            ping_interval=0,
            reconnect_timeout=0,
            events="on",
        )

    def connection_made(self, f: "asyncio.Future[Any]") -> None:  # type: ignore[override]
        # panoramisk would log in, start its pinger and schedule fixed-delay reconnects here.
        if not f.cancelled():
            f.exception()  # retrieved by AmiClient; avoid "exception never retrieved"

    def connection_lost(self, exc: BaseException | None) -> None:  # pragma: no cover - never wired
        pass

    def send_agi_command(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("use cti.agi.AgiManager: panoramisk's send_agi_command never resolves")


class AmiClient:
    """The one AMI connection of the server. See docs/ARCHITECTURE.md for the contract."""

    def __init__(
        self,
        settings: AmiSettings,
        *,
        action_id_prefix: str | None = None,
        rng: random.Random | None = None,
        max_message: int = 1 << 20,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.settings = settings
        self.max_message = max_message
        self._loop = loop
        self._prefix = action_id_prefix or f"hl{secrets.token_hex(3)}"
        self._ids = itertools.count(1)
        self._backoff = Backoff(settings.reconnect_initial, settings.reconnect_max, rng)
        self._protocol: AmiProtocol | None = None
        self._logged_in = False
        self._pending: dict[str, _Pending] = {}
        self._lists: set[str] = set()  # ActionIDs of pending list actions
        # subscribers: lower-case event name -> handlers; "" = every event
        self._subs: dict[str, list[Handler]] = {}
        self._route: dict[str, tuple[Handler, ...]] = {}
        self._connect_hooks: list[ConnectHook] = []
        self._disconnect_hooks: list[DisconnectHook] = []
        self._queue: deque[list[bytes | Message]] = deque()  # one batch per socket read
        self._queue_len = 0
        self._queue_max = settings.event_queue_size
        self._wakeup: asyncio.Future[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._first_login: asyncio.Future[None] | None = None
        self._stopping = False
        self._stats = AmiStats()
        self._framing_done = FramingStats()  # totals of closed connections
        self._failed_handlers: set[str] = set()
        self._rate_t0 = 0.0
        self._rate_n0 = 0
        self._drop_logged = False
        self._connected_waiters: list[asyncio.Future[None]] = []

    # -- properties ----------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def connected(self) -> bool:
        """True while the link is up and logged in."""
        p = self._protocol
        return self._logged_in and p is not None and not p.closed

    @property
    def stats(self) -> AmiStats:
        s = self._stats
        s.connected = self.connected
        s.queue_depth = self._queue_len
        if self._rate_t0 and time.monotonic() - self._rate_t0 > 2.0:
            s.events_per_second = 0.0  # nothing read lately
        fs = self._framing_done
        cur = self._protocol.framer.stats if self._protocol is not None else FramingStats()
        s.bytes_in = fs.bytes_in + cur.bytes_in
        s.oversized = fs.oversized + cur.oversized
        out = AmiStats(**{k: getattr(s, k) for k in s.__dataclass_fields__})
        out.handler_errors_by_name = dict(s.handler_errors_by_name)
        return out

    @property
    def queue_depth(self) -> int:
        return self._queue_len

    @property
    def dropped(self) -> int:
        return self._stats.dropped

    # -- life cycle ----------------------------------------------------
    async def start(self, timeout: float | None = None) -> None:
        """Connect and log in; return after the first successful login.

        Reconnects forever in the background afterwards. With ``timeout``, raise
        :class:`AmiNotConnected` if no login succeeded in time (the client keeps
        retrying in the background until :meth:`stop`).
        """
        loop = self.loop
        if self._runner is not None and not self._runner.done():
            raise RuntimeError("AmiClient already started")
        self._stopping = False
        self._first_login = loop.create_future()
        self._ensure_consumer()
        self._runner = loop.create_task(self._run(), name="ami-connection")
        self._runner.add_done_callback(self._runner_done)
        waiter = asyncio.shield(self._first_login)
        if timeout is None:
            await waiter
        else:
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                raise AmiNotConnected(
                    f"no AMI login to {self.settings.host}:{self.settings.port} within {timeout:g}s"
                ) from None

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the link is up and logged in (raise AmiNotConnected after ``timeout``)."""
        loop = self.loop
        deadline = None if timeout is None else loop.time() + timeout
        while not self.connected:
            if self._stopping or self._runner is None:
                raise AmiNotConnected("AMI client is not running")
            if deadline is not None and loop.time() >= deadline:
                raise AmiNotConnected(f"AMI link not up within {timeout:g}s")
            fut: asyncio.Future[None] = loop.create_future()
            self._connected_waiters.append(fut)
            try:
                await asyncio.wait_for(fut, None if deadline is None else max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                pass
            finally:
                if fut in self._connected_waiters:
                    self._connected_waiters.remove(fut)

    async def stop(self) -> None:
        """Log off, close the link, stop reconnecting and drain nothing further."""
        self._stopping = True
        p = self._protocol
        if p is not None and not p.closed and self._logged_in:
            try:
                await self.action("Logoff", timeout=min(2.0, self.settings.action_timeout))
            except AmiError:
                pass
        if p is not None:
            p.close()
        tasks = [t for t in (self._runner, self._heartbeat, self._consumer) if t is not None]
        tasks.extend(self._hook_tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._runner = self._heartbeat = self._consumer = None
        self._wakeup = None
        self._hook_tasks.clear()
        self._queue.clear()
        self._queue_len = 0
        self._fail_pending(AmiNotConnected("AMI client stopped"))
        for w in self._connected_waiters:
            if not w.done():
                w.set_exception(AmiNotConnected("AMI client stopped"))
                w.exception()
        if self._first_login is not None and not self._first_login.done():
            self._first_login.set_exception(AmiNotConnected("AMI client stopped"))
            self._first_login.exception()

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a bug: never silently stop reconnecting
            log.error("AMI connection supervisor crashed; restarting it", exc_info=exc)
            if not self._stopping:
                self._runner = self.loop.create_task(self._run(), name="ami-connection")
                self._runner.add_done_callback(self._runner_done)

    async def _run(self) -> None:
        s = self.settings
        first = True
        while not self._stopping:
            if not first:
                delay = self._backoff.next()
                self._stats.last_backoff = delay
                log.debug("AMI reconnecting to %s:%s in %.2fs", s.host, s.port, delay)
                await asyncio.sleep(delay)
                if self._stopping:
                    break
            first = False
            proto = await self._connect()
            if proto is None:
                continue
            try:
                ok = await self._login(proto)
            except AmiError as exc:
                log.warning("AMI login to %s:%s failed: %s", s.host, s.port, exc)
                ok = False
            if not ok:
                proto.abort()
                await proto.lost
                continue
            await proto.lost
        return None

    async def _connect(self) -> AmiProtocol | None:
        s = self.settings
        link = _Link(self, s)
        try:
            _, proto = await asyncio.wait_for(link.connect(), s.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self._stats.connect_failures += 1
            log.warning("AMI connect to %s:%s failed: %s", s.host, s.port, exc or type(exc).__name__)
            return None
        assert isinstance(proto, AmiProtocol)
        self._stats.connects += 1
        self._protocol = proto
        try:
            banner = await asyncio.wait_for(asyncio.shield(proto.banner), s.connect_timeout)
        except (asyncio.TimeoutError, AmiError) as exc:
            log.warning("AMI peer %s:%s sent no banner: %s", s.host, s.port, exc or "timeout")
            proto.abort()
            await proto.lost
            return None
        if banner:
            log.debug("AMI banner %r", banner)
        return proto

    async def _login(self, proto: AmiProtocol) -> bool:
        s = self.settings
        try:
            await self._send_action(
                proto, "Login", {"Username": s.username, "Secret": s.secret}, s.action_timeout, False
            )
        except AmiActionError as exc:
            self._stats.login_failures += 1
            log.error(
                "AMI login refused for user %r at %s:%s: %s (check ami.username/ami.secret and manager.conf)",
                s.username, s.host, s.port, exc.message or exc.response.name,
            )
            return False
        if proto.closed:
            return False
        self._logged_in = True
        self._backoff.reset()
        self._stats.logins += 1
        if self._stats.logins > 1:
            self._stats.reconnects += 1
        log.info("AMI logged in to %s:%s as %s", s.host, s.port, s.username)
        self._heartbeat = self.loop.create_task(self._heartbeat_loop(proto), name="ami-heartbeat")
        for hook in list(self._connect_hooks):
            self._spawn_hook(hook)
        if self._first_login is not None and not self._first_login.done():
            self._first_login.set_result(None)
        for w in self._connected_waiters:
            if not w.done():
                w.set_result(None)
        return True

    def _spawn_hook(self, hook: ConnectHook) -> None:
        name = getattr(hook, "__qualname__", repr(hook))

        async def run() -> None:
            try:
                await hook()
            except asyncio.CancelledError:
                raise
            except AmiNotConnected as exc:
                log.warning("AMI on_connect hook %s interrupted: %s", name, exc)
            except Exception:
                log.exception("AMI on_connect hook %s failed", name)

        t = self.loop.create_task(run(), name=f"ami-on-connect:{name}")
        self._hook_tasks.add(t)
        t.add_done_callback(self._hook_tasks.discard)

    async def _heartbeat_loop(self, proto: AmiProtocol) -> None:
        s = self.settings
        while not proto.closed:
            await asyncio.sleep(s.ping_interval)
            if proto.closed:
                return
            try:
                await self._send_action(proto, "Ping", None, s.pong_timeout, False)
            except AmiTimeout:
                self._stats.pongs_missed += 1
                log.warning(
                    "AMI link to %s:%s is half-open: no Pong within %gs; dropping it",
                    s.host, s.port, s.pong_timeout,
                )
                proto.abort()
                return
            except AmiActionError:
                pass  # an answer is an answer: the link is alive
            except AmiNotConnected:
                return

    def _connection_lost(self, proto: AmiProtocol, exc: BaseException | None) -> None:
        if proto is not self._protocol:
            return
        fs, cur = self._framing_done, proto.framer.stats
        for k in ("bytes_in", "malformed", "decode_errors", "oversized", "messages", "discarded_bytes"):
            setattr(fs, k, getattr(fs, k) + getattr(cur, k))
        self._protocol = None
        was_in = self._logged_in
        self._logged_in = False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        for t in list(self._hook_tasks):
            t.cancel()
        self._fail_pending(AmiNotConnected(f"AMI link lost{': ' + str(exc) if exc else ''}"))
        if was_in:
            if self._stopping:
                log.info("AMI link closed")
            else:
                log.warning("AMI link to %s:%s lost%s", self.settings.host, self.settings.port,
                            f": {exc}" if exc else "")
            for fn in list(self._disconnect_hooks):
                try:
                    r = fn(exc)
                    if inspect.isawaitable(r):
                        self._spawn_hook(lambda r=r: r)  # type: ignore[misc]
                except Exception:
                    log.exception("AMI on_disconnect hook %s failed", getattr(fn, "__qualname__", fn))

    def _fail_pending(self, exc: AmiError) -> None:
        pending, self._pending = self._pending, {}
        self._lists.clear()
        for p in pending.values():
            if p.timer is not None:
                p.timer.cancel()
            if not p.future.done():
                p.future.set_exception(exc)

    # -- hooks and subscriptions -------------------------------------------
    def on_connect(self, fn: ConnectHook) -> Callable[[], None]:
        """Run ``await fn()`` after every (re)login (as a supervised task). Returns a remover."""
        self._connect_hooks.append(fn)
        if self.connected:
            self._spawn_hook(fn)
        return lambda: self._connect_hooks.remove(fn) if fn in self._connect_hooks else None

    def on_disconnect(self, fn: DisconnectHook) -> Callable[[], None]:
        """Call ``fn(exc_or_None)`` when a logged-in link is lost. Returns a remover."""
        self._disconnect_hooks.append(fn)
        return lambda: self._disconnect_hooks.remove(fn) if fn in self._disconnect_hooks else None

    def subscribe(self, handler: Handler, *event_names: str) -> Callable[[], None]:
        """Call ``handler(msg)`` for the named events (case-insensitive), or every event.

        Handlers run in order on the consumer task; an async handler is awaited
        before the next event is dispatched, so keep handlers short and start
        your own supervised task for long work. Returns the unsubscribe callable.
        """
        keys = [n.lower() for n in event_names] or [""]
        for k in keys:
            self._subs.setdefault(k, []).append(handler)
        self._route.clear()

        def unsubscribe() -> None:
            for k in keys:
                lst = self._subs.get(k)
                if lst and handler in lst:
                    lst.remove(handler)
                    if not lst:
                        del self._subs[k]
            self._route.clear()

        return unsubscribe

    def _handlers_for(self, name: str) -> tuple[Handler, ...]:
        hs = tuple(self._subs.get(name.lower(), ())) + tuple(self._subs.get("", ()))
        self._route[name] = hs
        return hs

    # -- actions -------------------------------------------------------
    def next_action_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def action(self, name: str, headers: HeaderInput | None = None, timeout: float | None = None) -> Message:
        """Send an action and return its Response (see the module docstring)."""
        p = self._protocol
        if p is None or p.closed or not self._logged_in:
            raise AmiNotConnected(f"AMI link is down; action {name} not sent")
        return await self._send_action(p, name, headers, timeout, False)

    async def list_action(
        self, name: str, headers: HeaderInput | None = None, timeout: float | None = None
    ) -> list[Message]:
        """Send a list action (``EventList: start`` ... ``*Complete``); return the item events."""
        p = self._protocol
        if p is None or p.closed or not self._logged_in:
            raise AmiNotConnected(f"AMI link is down; action {name} not sent")
        return await self._send_action(p, name, headers, timeout, True)

    def call_soon_threadsafe_action(
        self, name: str, headers: HeaderInput | None = None, timeout: float | None = None
    ) -> concurrent.futures.Future[Message]:
        """From another thread: schedule :meth:`action` on the client's loop; returns a concurrent Future."""
        return asyncio.run_coroutine_threadsafe(self.action(name, headers, timeout), self.loop)

    async def _send_action(
        self, proto: AmiProtocol, name: str, headers: HeaderInput | None, timeout: float | None, is_list: bool
    ) -> Any:
        loop = self.loop
        aid = self.next_action_id()
        data = encode_action(name, headers or (), aid)
        t = self.settings.action_timeout if timeout is None else timeout
        fut: asyncio.Future[Any] = loop.create_future()
        pend = _Pending(name, fut, is_list)
        self._pending[aid] = pend
        if is_list:
            self._lists.add(aid)
        pend.timer = loop.call_later(t, self._expire, aid, t)
        try:
            proto.send(data)
            self._stats.actions_sent += 1
            return await fut
        finally:
            if pend.timer is not None:
                pend.timer.cancel()
            if self._pending.get(aid) is pend:
                del self._pending[aid]
            self._lists.discard(aid)

    def _expire(self, aid: str, t: float) -> None:
        p = self._pending.pop(aid, None)
        self._lists.discard(aid)
        if p is not None and not p.future.done():
            self._stats.action_timeouts += 1
            p.future.set_exception(AmiTimeout(p.name, aid, t))

    # -- ingest (hot path) -----------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        dt = now - self._rate_t0
        if dt >= 1.0:
            s = self._stats
            if self._rate_t0:
                s.events_per_second = (s.events_received - self._rate_n0) / dt
            self._rate_t0 = now
            self._rate_n0 = s.events_received

    def _blocks(self, blocks: list[bytes]) -> None:
        """One read's complete messages. Responses are matched here, at once; events
        go to the consumer still as bytes (parsed right before dispatch, which keeps
        the hot path cache-friendly), unless a list action may claim them."""
        # All blocks start with "Event: " iff the lexicographically smallest and
        # largest do: two C-level passes instead of a Python-level test per block.
        events: list[bytes | Message]
        if min(blocks).startswith(b"Event: ") and max(blocks).startswith(b"Event: "):
            events = blocks  # type: ignore[assignment]
        else:
            events = self._classify(blocks)
        if self._lists:
            events = self._take_list_items(events)
        if events:
            self._enqueue(events)

    def _classify(self, blocks: list[bytes]) -> list[bytes | Message]:
        events: list[bytes | Message] = []
        s = self._stats
        for b in blocks:
            if b.startswith(b"Event: "):
                events.append(b)
                continue
            m = parse_block(b)
            if m.decode_error:
                s.decode_errors += 1
            if m.kind == "Response":
                self._response(m)
            elif m.kind == "Event":  # "Event:" not first: a lenient peer
                events.append(m)
            elif m.fields:
                s.malformed += 1
        return events

    def _enqueue(self, events: list[bytes | Message]) -> None:
        """Hand one read's events to the consumer; never blocks, drops (and counts) when full."""
        n = len(events)
        s = self._stats
        s.events_received += n
        qlen = self._queue_len + n
        if qlen > self._queue_max:
            room = max(self._queue_max - self._queue_len, 0)
            s.dropped += n - room
            if not self._drop_logged:
                self._drop_logged = True
                log.error("AMI event queue full (%d); dropping events (handlers too slow)", self._queue_max)
            if not room:
                return
            events = events[:room]
            qlen = self._queue_max
        self._queue.append(events)
        self._queue_len = qlen
        if qlen > s.queue_high_water:
            s.queue_high_water = qlen
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def _take_list_items(self, events: list[bytes | Message]) -> list[bytes | Message]:
        """While list actions are pending, pull their item events out of the stream."""
        pending = self._pending
        lists = self._lists
        keep: list[bytes | Message] = []
        for x in events:
            if isinstance(x, bytes):
                if b"ActionID: " not in x:
                    keep.append(x)
                    continue
                m = parse_block(x)
                if m.decode_error:
                    self._stats.decode_errors += 1
            else:
                m = x
            aid = m.fields.get("ActionID")
            p = pending.get(aid) if aid is not None and aid in lists else None  # type: ignore[arg-type]
            if p is not None:
                self._list_item(aid, p, m)  # type: ignore[arg-type]
            else:
                keep.append(m)
        return keep

    def _response(self, m: Message) -> None:
        self._stats.responses_received += 1
        aid = m.fields.get("ActionID")
        p = self._pending.get(aid) if aid is not None else None
        if p is None:
            self._stats.unmatched_responses += 1
            return
        if p.future.done():
            return
        if m.name == "Error":
            del self._pending[aid]  # type: ignore[arg-type]
            p.future.set_exception(AmiActionError(p.name, m))
            return
        if p.is_list:
            el = m.fields.get("EventList")
            msg = m.fields.get("Message", "")
            if (el is not None and el.lower() == "start") or "follow" in msg.lower():
                p.started = True
                return
            del self._pending[aid]  # type: ignore[arg-type]
            p.future.set_result([])
            return
        del self._pending[aid]  # type: ignore[arg-type]
        p.future.set_result(m)

    def _list_item(self, aid: str, p: _Pending, m: Message) -> None:
        el = m.fields.get("EventList")
        if (el is not None and el.lower() == "complete") or (el is None and m.name.endswith("Complete")):
            del self._pending[aid]
            if not p.future.done():
                p.future.set_result(p.items)
            return
        assert p.items is not None
        p.items.append(m)

    def _ensure_consumer(self) -> None:
        if self._consumer is None or self._consumer.done():
            self._consumer = self.loop.create_task(self._consume(), name="ami-dispatch")
            self._consumer.add_done_callback(self._consumer_done)

    def _consumer_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        log.error("AMI event consumer died; restarting it", exc_info=exc)
        self._consumer = None
        self._ensure_consumer()

    async def _consume(self) -> None:
        queue = self._queue
        route = self._route
        loop = self.loop
        s = self._stats
        parse = parse_block
        while True:
            if not queue:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            batch = queue.popleft()
            self._queue_len -= len(batch)
            if self._drop_logged and self._queue_len < self._queue_max // 2:
                # Events were lost: whoever keeps state from them (the call model, AsyncAGI
                # sessions) is stale. Run the on-connect hooks, which resynchronise from
                # Asterisk's own lists, as after a reconnect.
                self._drop_logged = False
                s.overflow_resyncs += 1
                log.warning("AMI event queue drained after dropping %d events; resynchronising", s.dropped)
                if self.connected:
                    for hook in list(self._connect_hooks):
                        self._spawn_hook(hook)
            for m in batch:
                if type(m) is bytes:
                    m = parse(m)
                    if m.decode_error:
                        s.decode_errors += 1
                hs = route.get(m.name)
                if hs is None:
                    hs = self._handlers_for(m.name)
                for h in hs:
                    try:
                        r = h(m)
                        if r is not None and inspect.isawaitable(r):
                            await r
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        self._handler_failed(h, m)
            s.events_dispatched += len(batch)

    def _handler_failed(self, h: Handler, m: Message) -> None:
        name = getattr(h, "__qualname__", None) or repr(h)
        s = self._stats
        s.handler_errors += 1
        s.handler_errors_by_name[name] = s.handler_errors_by_name.get(name, 0) + 1
        if name not in self._failed_handlers:
            self._failed_handlers.add(name)
            log.exception("AMI event handler %s raised on %s (logged once; further errors are counted)",
                          name, m.name)

    async def drain(self) -> None:
        """Wait until every queued event has been dispatched (tests, orderly shutdown)."""
        while self._consumer is not None and not self._consumer.done():
            w = self._wakeup
            if not self._queue_len and w is not None and not w.done():
                return
            await asyncio.sleep(0)
