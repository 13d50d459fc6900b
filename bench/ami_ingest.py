"""AMI ingest throughput: bytes on a loopback socket -> parsed events -> subscriber.

One byte stream (every ``Event:`` message of the captured Asterisk 22 traces, the
``bulk_events`` trace weighted up, repeated to a few tens of MB) is served over
loopback TCP by a separate process, and read in the same run, alternating rounds, by:

* ``raw``: a minimal asyncio.Protocol (split on CRLFCRLF, decode, build a dict
  per message) -- the ceiling for a pure-Python reader;
* ``product``: :class:`cti.ami.client.AmiClient` (framing, typed Message,
  bounded dispatch queue, consumer task, a subscriber that counts);
* ``raw_map``: the raw reader using the product's faster ``dict(map(str.split, ...))``
  idiom, for reference (the honest upper bound for this parsing approach);
* ``panoramisk``: panoramisk 1.4's own Manager with a ``*`` event callback, for reference.

Each reader logs in, sends one action (the server answers it, then streams),
and the clock runs from that action to the last event delivered. Figures are
events/s, median of the rounds; ``ratio`` = product / raw (target >= 0.8).
The reading process's CPU time over the same span is reported too
(``cpu_*``): on a shared machine it is far less noisy than wall time.

``python -m bench.ami_ingest [--quick]`` prints the figures and writes
bench/results/ami_ingest.json; ``python -m bench.run ami_ingest`` does the same.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import socket
import statistics
import sys
import time
from itertools import repeat
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "asterisk"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def build_stream(target_bytes: int) -> tuple[bytes, int]:
    """Every Event message of the captures (bulk_events x4, Shutdown excepted), repeated to ~target_bytes."""
    events: list[bytes] = []
    files = sorted(SHARED.glob("ami/**/received.ami")) + sorted(SHARED.glob("audiosocket/*/ami/received.ami"))
    for path in files:
        data = path.read_bytes()
        body = data.split(b"\r\n", 1)[1]
        # (Shutdown is left out: it makes any AMI client close the link, as it should)
        blocks = [b + b"\r\n\r\n" for b in body.split(b"\r\n\r\n")
                  if b.startswith(b"Event: ") and not b.startswith(b"Event: Shutdown\r\n")]
        events.extend(blocks * (4 if path.parent.name == "bulk_events" else 1))
    unit = b"".join(events)
    reps = max(1, target_bytes // len(unit))
    return unit * reps, len(events) * reps


# -- the server process ----------------------------------------------------------
def _serve(sock: socket.socket, stream: bytes) -> None:
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(BANNER)
            buf = b""
            answered = 0
            try:
                while answered < 2:  # Login, then the "go" action
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                    while b"\r\n\r\n" in buf and answered < 2:
                        msg, buf = buf.split(b"\r\n\r\n", 1)
                        aid = b""
                        for line in msg.split(b"\r\n"):
                            if line.lower().startswith(b"actionid:"):
                                aid = line.split(b":", 1)[1].strip()
                        if answered == 0:
                            conn.sendall(b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n")
                        else:
                            conn.sendall(b"Response: Success\r\nActionID: " + aid + b"\r\nPing: Pong\r\nTimestamp: 0\r\n\r\n" + stream)
                        answered += 1
                # wait for the reader to hang up
                while conn.recv(65536):
                    pass
            except OSError:
                pass


# -- readers -------------------------------------------------------------------------
class _RawProtocol(asyncio.Protocol):
    """The baseline: what anyone would write first (list comprehension per message)."""

    def __init__(self, expected: int, done: asyncio.Future[float], ready: asyncio.Future[None]) -> None:
        self.expected = expected
        self.done = done
        self.ready = ready
        self.buf = b""
        self.events = 0
        self.banner = False
        self.transport: Any = None
        self.last: dict[str, str] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"Action: Login\r\nActionID: raw-1\r\nUsername: bench\r\nSecret: bench\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.banner:
            nl = buf.find(b"\r\n")
            if nl < 0:
                self.buf = buf
                return
            buf = buf[nl + 2 :]
            self.banner = True
        blocks = buf.split(b"\r\n\r\n")
        self.buf = blocks.pop()
        for block in blocks:
            d = dict([line.split(": ", 1) for line in block.decode("utf-8").split("\r\n")])
            if "Event" in d:
                self.events += 1
                self.last = d
            elif d.get("ActionID") == "raw-1" and not self.ready.done():
                self.ready.set_result(None)
        if self.events >= self.expected and not self.done.done():
            self.done.set_result(time.perf_counter())


class _RawMapProtocol(_RawProtocol):
    """A stronger baseline using the same dict(map(str.split, ...)) idiom as the product parser."""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.banner:
            nl = buf.find(b"\r\n")
            if nl < 0:
                self.buf = buf
                return
            buf = buf[nl + 2 :]
            self.banner = True
        blocks = buf.split(b"\r\n\r\n")
        self.buf = blocks.pop()
        split, sep, once = str.split, repeat(": "), repeat(1)
        for block in blocks:
            d = dict(map(split, block.decode("utf-8").split("\r\n"), sep, once))
            if "Event" in d:
                self.events += 1
                self.last = d
            elif d.get("ActionID") == "raw-1" and not self.ready.done():
                self.ready.set_result(None)
        if self.events >= self.expected and not self.done.done():
            self.done.set_result(time.perf_counter())


async def _round_raw(port: int, expected: int, cls: type[_RawProtocol] = _RawProtocol) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    ready: asyncio.Future[None] = loop.create_future()
    transport, proto = await loop.create_connection(lambda: cls(expected, done, ready), "127.0.0.1", port)
    try:
        await ready
        c0 = time.process_time()
        t0 = time.perf_counter()
        transport.write(b"Action: Ping\r\nActionID: raw-2\r\n\r\n")
        t1 = await asyncio.wait_for(done, 300)
        c1 = time.process_time()
        assert proto.events == expected, (proto.events, expected)
        return expected / (t1 - t0), expected / max(c1 - c0, 1e-9)
    finally:
        transport.close()


async def _round_product(port: int, expected: int) -> tuple[float, dict[str, Any]]:
    from cti.ami.client import AmiClient
    from hotline.settings import AmiSettings

    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    count = 0

    def on_event(msg: Any) -> None:
        nonlocal count
        count += 1
        if count >= expected and not done.done():
            done.set_result(time.perf_counter())

    settings = AmiSettings(host="127.0.0.1", port=port, ping_interval=3600, event_queue_size=10_000_000)
    client = AmiClient(settings)
    client.subscribe(on_event)
    await client.start(timeout=30)
    try:
        c0 = time.process_time()
        t0 = time.perf_counter()
        await client.action("Ping")
        t1 = await asyncio.wait_for(done, 300)
        c1 = time.process_time()
        st = client.stats
        assert count == expected and st.dropped == 0, (count, expected, st.dropped)
        return expected / (t1 - t0), expected / max(c1 - c0, 1e-9), {"queue_high_water": st.queue_high_water}
    finally:
        await client.stop()


async def _round_panoramisk(port: int, expected: int) -> tuple[float, float]:
    from panoramisk import Manager

    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    logged_in: asyncio.Future[None] = loop.create_future()
    count = 0

    def on_event(manager: Any, msg: Any) -> None:
        nonlocal count
        count += 1
        if count >= expected and not done.done():
            done.set_result(time.perf_counter())

    def on_login(manager: Any) -> None:
        if not logged_in.done():
            logged_in.set_result(None)

    m = Manager(host="127.0.0.1", port=port, username="bench", secret="bench", loop=loop,
                ping_delay=3600, ping_interval=3600, on_login=on_login)
    m.register_event("*", on_event)
    m.connect()
    try:
        await asyncio.wait_for(logged_in, 30)
        c0 = time.process_time()
        t0 = time.perf_counter()
        await m.send_action({"Action": "Ping"})
        try:
            t1 = await asyncio.wait_for(done, 300)
        except asyncio.TimeoutError:
            return float("nan"), float("nan")
        c1 = time.process_time()
        return expected / (t1 - t0), expected / max(c1 - c0, 1e-9)
    finally:
        m.close()


async def _measure(port: int, expected: int, rounds: int) -> dict[str, Any]:
    wall: dict[str, list[float]] = {k: [] for k in ("raw", "product", "raw_map", "panoramisk")}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    extra: dict[str, Any] = {}
    for i in range(rounds):
        # alternate the order so neither reader always runs on a warmer (or busier) machine
        order = ["raw", "product", "raw_map", "panoramisk"]
        if i % 2:
            order = ["product", "raw", "panoramisk", "raw_map"]
        for which in order:
            if which == "raw":
                w, c = await _round_raw(port, expected)
            elif which == "raw_map":
                w, c = await _round_raw(port, expected, _RawMapProtocol)
            elif which == "product":
                w, c, extra = await _round_product(port, expected)
            else:
                w, c = await _round_panoramisk(port, expected)
            wall[which].append(w)
            cpu[which].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    per_round = [p / r for p, r in zip(wall["product"], wall["raw"])]
    return {
        "raw_events_per_s": round(med["raw"]),
        "product_events_per_s": round(med["product"]),
        "panoramisk_events_per_s": round(med["panoramisk"]),
        "raw_map_events_per_s": round(med["raw_map"]),
        "ratio": round(med["product"] / med["raw"], 3),
        "ratio_target": 0.8,
        "ratio_per_round_median": round(statistics.median(per_round), 3),
        "ratio_vs_raw_map": round(med["product"] / med["raw_map"], 3),
        "panoramisk_ratio": round(med["panoramisk"] / med["raw"], 3),
        "cpu_events_per_s": {k: round(v) for k, v in cmed.items()},
        "cpu_ratio": round(cmed["product"] / cmed["raw"], 3),
        "cpu_ratio_vs_raw_map": round(cmed["product"] / cmed["raw_map"], 3),
        "rounds_wall": {k: [round(x) for x in v] for k, v in wall.items()},
        "product_queue_high_water": extra.get("queue_high_water"),
    }


def run(quick: bool = False) -> dict:
    stream, expected = build_stream(8_000_000 if quick else 40_000_000)
    rounds = 3 if quick else 9
    ctx = mp.get_context("fork")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    proc = ctx.Process(target=_serve, args=(sock, stream), daemon=True)
    proc.start()
    sock.close()
    try:
        figures = asyncio.run(_measure(port, expected, rounds))
    finally:
        proc.terminate()
        proc.join(5)
    figures.update(
        {
            "stream_bytes": len(stream),
            "events_per_round": expected,
            "rounds": rounds,
            "clock": "time.perf_counter (wall), from the action that starts the stream to the last event "
            "delivered; cpu_* figures use time.process_time of the reading process over the same span",
            "transport": "loopback TCP, server in a separate process",
        }
    )
    return figures


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    figures = run(quick=quick)
    print(json.dumps(figures, indent=2))
    try:
        from bench.run import write_result

        path = write_result("ami_ingest", figures, quick)
    except ImportError:  # pragma: no cover - runner not present
        path = Path(__file__).resolve().parent / "results" / "ami_ingest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"benchmark": "ami_ingest", "quick": quick, "figures": figures}, indent=2) + "\n")
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
