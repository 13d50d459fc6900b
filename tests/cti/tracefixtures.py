"""Load the raw Asterisk 22 captures in ../shared/asterisk and replay them over TCP.

A :class:`Trace` is one AMI connection: ``received.ami`` (exact bytes Asterisk
sent), ``sent.ami`` (what the capturing client wrote) and ``timeline.jsonl``
(how the bytes interleaved). :meth:`Trace.segments` cuts the received bytes at
each client write, so a :class:`ReplayServer` can answer each action the client
under test sends with exactly what Asterisk sent after the captured action,
rewriting the captured ActionIDs/CommandIDs to the client's own (record-replay,
in the spirit of panoramisk/testing.py).
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cti.ami.protocol import Framer, Message, parse_block

SHARED = Path(__file__).parents[2].parent / "shared"
ASTERISK = SHARED / "asterisk"


def received_files() -> list[Path]:
    """Every captured ``received.ami`` (AMI scenarios, their extra connections, AudioSocket scenarios' AMI)."""
    return sorted(ASTERISK.glob("ami/**/received.ami")) + sorted(ASTERISK.glob("audiosocket/*/ami/received.ami"))


def trace_name(path: Path) -> str:
    return str(path.parent.relative_to(ASTERISK))


@dataclass
class Segment:
    action: Message | None  # the captured client action that preceded these bytes (None: on connect)
    data: bytes  # what Asterisk sent after it, up to the next client write
    eof: bool = False  # Asterisk closed the connection at the end of this segment


@dataclass
class Trace:
    name: str
    received: bytes
    sent: bytes
    timeline: list[dict]
    segments_cache: list[Segment] | None = field(default=None, repr=False)

    def messages(self) -> list[Message]:
        return Framer().feed(self.received)

    def sent_actions(self) -> list[Message]:
        return Framer(expect_banner=False).feed(self.sent)

    def segments(self) -> list[Segment]:
        if self.segments_cache is not None:
            return self.segments_cache
        actions = self.sent_actions()
        segs: list[Segment] = [Segment(None, b"")]
        rpos = 0
        ai = 0
        chunks: list[bytes] = []
        for entry in self.timeline:
            if entry["dir"] == "out":
                segs[-1].data = b"".join(chunks)
                chunks = []
                segs.append(Segment(actions[ai] if ai < len(actions) else None, b""))
                ai += 1
            elif entry.get("eof"):
                segs[-1].eof = True
            else:
                n = entry["bytes"]
                chunks.append(self.received[rpos : rpos + n])
                rpos += n
        segs[-1].data = b"".join(chunks)
        assert rpos == len(self.received), (self.name, rpos, len(self.received))
        self.segments_cache = segs
        return segs


@lru_cache(maxsize=None)
def load(name: str) -> Trace:
    d = ASTERISK / name
    timeline = [json.loads(line) for line in (d / "timeline.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return Trace(name, (d / "received.ami").read_bytes(), (d / "sent.ami").read_bytes(), timeline)


def strip_events(data: bytes, *names: str) -> bytes:
    """Remove whole messages with the given Event names from a byte stream (keeps everything else exact)."""
    out = []
    pos = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            out.append(data[pos:])
            break
        block = data[pos : end + 4]
        if not any(block.startswith(f"Event: {n}\r\n".encode()) for n in names):
            out.append(block)
        pos = end + 4
    return b"".join(out)


# -- canned answers for actions that are not in a trace -----------------------------
def canned_response(msg: Message) -> tuple[bytes, bool]:
    """(bytes to send, close afterwards) for an action the trace does not cover."""
    aid = msg.get("ActionID") or ""
    action = (msg.get("Action") or "").lower()
    if action == "ping":
        return (f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\nTimestamp: 1795265930.236250\r\n\r\n").encode(), False
    if action == "login":
        return (f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n").encode(), False
    if action == "logoff":
        return (f"Response: Goodbye\r\nActionID: {aid}\r\nMessage: Thanks for all the fish.\r\n\r\n").encode(), True
    if action == "coreshowchannels":
        return (
            f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
            f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
        ).encode(), False
    return (f"Response: Error\r\nActionID: {aid}\r\nMessage: replay: action not in trace\r\n\r\n").encode(), False


BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class ReplayServer:
    """A loopback TCP server that plays one trace per accepted connection.

    ``traces[i]`` serves the i-th connection; ``None`` (or running out of traces)
    serves a login-only Asterisk that answers with :func:`canned_response`.
    ``cut_at`` aborts the first connection after that many bytes.
    ``split_rng`` splits every write at random points (several socket reads).
    ``close_listener_before_eof`` stops accepting before a trace's final EOF, so the
    client's reconnects are refused until :meth:`listen` is called again.
    """

    def __init__(
        self,
        traces: list[Trace | None],
        *,
        cut_at: int | None = None,
        split_rng: random.Random | None = None,
        close_listener_before_eof: bool = False,
        strip: tuple[str, ...] = (),
        silent: tuple[str, ...] = (),
    ) -> None:
        self.traces = traces
        self.cut_at = cut_at
        self.rng = split_rng
        self.close_listener_before_eof = close_listener_before_eof
        self.strip = strip
        self.silent = tuple(a.lower() for a in silent)  # actions never answered (half-open link, lost reply)
        self.port = 0
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0
        self.cut = False  # the first connection was aborted at cut_at
        self.received: list[list[Message]] = []  # per connection, every action received
        self.pings: list[int] = []  # per connection, Pings received
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task] = set()
        self.errors: list[BaseException] = []

    async def listen(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    def stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def close(self) -> None:
        self.stop_listening()
        for w in self._writers:
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except BaseException:
                pass

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        t = asyncio.current_task()
        assert t is not None
        self._tasks.add(t)
        idx = self.connections
        self.connections += 1
        self.received.append([])
        self.pings.append(0)
        self._writers.append(writer)
        trace = self.traces[idx] if idx < len(self.traces) else None
        try:
            await _Session(self, idx, trace, reader, writer, self.cut_at if idx == 0 else None).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced by tests through .errors
            self.errors.append(exc)
        finally:
            writer.transport.abort()
            self._tasks.discard(t)


class _Session:
    def __init__(self, server: ReplayServer, idx: int, trace: Trace | None, reader, writer, cut_at: int | None):
        self.server = server
        self.idx = idx
        self.trace = trace
        self.reader = reader
        self.writer = writer
        self.cut_at = cut_at
        self.sent_bytes = 0
        self.ids: dict[bytes, bytes] = {}
        self.closed = False
        segs = trace.segments() if trace is not None else [Segment(None, BANNER)]
        self.first = segs[0]
        self.remaining = list(segs[1:])

    async def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        for old, new in self.ids.items():
            data = data.replace(old, new)
        if self.cut_at is not None and self.sent_bytes + len(data) >= self.cut_at:
            data = data[: self.cut_at - self.sent_bytes]
            await self._write_split(data)
            self.closed = True
            self.server.cut = True
            self.writer.transport.abort()
            return
        self.sent_bytes += len(data)
        await self._write_split(data)

    async def _write_split(self, data: bytes) -> None:
        rng = self.server.rng
        if rng is None or len(data) < 2:
            self.writer.write(data)
            await self.writer.drain()
            return
        pos = 0
        while pos < len(data):
            n = rng.randint(1, max(1, min(len(data) - pos, rng.choice((7, 100, 1500, 9000)))))
            self.writer.write(data[pos : pos + n])
            pos += n
            await self.writer.drain()
            await asyncio.sleep(0)

    def _prep(self, seg: Segment) -> bytes:
        data = seg.data
        if self.server.strip:
            # keep the banner line (no CRLFCRLF framing) apart
            if data.startswith(b"Asterisk Call Manager/"):
                nl = data.index(b"\r\n") + 2
                data = data[:nl] + strip_events(data[nl:], *self.server.strip)
            else:
                data = strip_events(data, *self.server.strip)
        return data

    async def emit(self, seg: Segment) -> None:
        if seg.eof and self.server.close_listener_before_eof:
            self.server.stop_listening()
        await self.write(self._prep(seg))
        if seg.eof and not self.closed:
            self.closed = True
            self.writer.close()

    async def run(self) -> None:
        await self.emit(self.first)
        framer = Framer(expect_banner=False)
        while not self.closed:
            data = await self.reader.read(65536)
            if not data:
                return
            for msg in framer.feed(data):
                await self.on_action(msg)
                if self.closed:
                    return

    async def on_action(self, msg: Message) -> None:
        srv = self.server
        srv.received[self.idx].append(msg)
        action = (msg.get("Action") or "").lower()
        if action == "ping":
            srv.pings[self.idx] += 1
        if action in srv.silent:
            return
        match = None
        for i, seg in enumerate(self.remaining):
            cap = seg.action
            if cap is None or (cap.get("Action") or "").lower() != action:
                continue
            if cap.get("Channel") is not None and cap.get("Channel") != msg.get("Channel"):
                continue
            if (cap.get("ActionID") is None) != (msg.get("ActionID") is None):
                continue  # a captured action without ActionID got a reply only matchable by order
            match = i
            break
        if match is None:
            data, close = canned_response(msg)
            await self.write(data)
            if close:
                self.closed = True
                self.writer.close()
            return
        skipped, seg = self.remaining[:match], self.remaining[match]
        self.remaining = self.remaining[match + 1 :]
        for s in skipped:  # actions the client chose not to send: what Asterisk sent after them still happens
            await self.emit(s)
            if self.closed:
                return
        cap = seg.action
        assert cap is not None
        for key in ("ActionID", "CommandID"):
            old, new = cap.get(key), msg.get(key)
            if old and new:
                hdr = b"ActionID: " if key == "ActionID" else b"CommandId: "
                self.ids[hdr + old.encode() + b"\r\n"] = hdr + new.encode() + b"\r\n"
        await self.emit(seg)


def count_events(msgs: list[Message]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in msgs:
        if m.kind == "Event":
            out[m.name] = out.get(m.name, 0) + 1
    return out


def raw_event_counts(data: bytes) -> dict[str, int]:
    """Independent count of ``Event:`` names straight from the bytes (no framer)."""
    out: dict[str, int] = {}
    for block in data.split(b"\r\n\r\n"):
        if block.startswith(b"Asterisk Call Manager/"):
            block = block.split(b"\r\n", 1)[1] if b"\r\n" in block else b""
        if block.startswith(b"Event: "):
            name = block[7:].split(b"\r\n", 1)[0].decode()
            out[name] = out.get(name, 0) + 1
    return out


__all__ = [
    "ASTERISK",
    "SHARED",
    "ReplayServer",
    "Segment",
    "Trace",
    "canned_response",
    "count_events",
    "load",
    "parse_block",
    "raw_event_counts",
    "received_files",
    "strip_events",
    "trace_name",
]
