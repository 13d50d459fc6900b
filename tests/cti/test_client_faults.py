"""Fault injection (seeded): garbage, partial and oversized frames, unknown events,
raising and slow handlers, and a replayed call cut at 100+ random byte offsets."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import tracemalloc
from typing import Any


from cti.agi import AgiHangup, AgiManager, AgiSession
from cti.ami.client import AmiClient
from cti.ami.errors import AmiNotConnected
from cti.ami.protocol import Message

from .conftest import fast_settings, wait_until
from .tracefixtures import ReplayServer, Segment, Trace, load

LOGIN_OK = b"Response: Success\r\nActionID: fault-1\r\nMessage: Authentication accepted\r\n\r\n"


def synthetic(after_login: bytes) -> Trace:
    """A one-connection trace: banner; Login -> success + ``after_login``; Logoff -> Goodbye."""
    t = Trace("synthetic", b"", b"", [])
    login = Message("", "", {"Action": "Login", "ActionID": "fault-1"})
    logoff = Message("", "", {"Action": "Logoff", "ActionID": "fault-2"})
    t.segments_cache = [
        Segment(None, b"Asterisk Call Manager/11.0.0\r\n"),
        Segment(login, LOGIN_OK + after_login),
        Segment(logoff, b"Response: Goodbye\r\nActionID: fault-2\r\nMessage: Thanks for all the fish.\r\n\r\n", eof=True),
    ]
    return t


def ev(name: str, i: int, **extra: str) -> bytes:
    body = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
    return f"Event: {name}\r\nPrivilege: call,all\r\nSeq: {i}\r\n{body}\r\n".encode()


async def _client(servers, clients, trace: Trace, **kw: Any) -> tuple[ReplayServer, AmiClient]:
    srv = ReplayServer([trace], split_rng=kw.pop("split_rng", None))
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen(), **kw.pop("settings", {})), **kw)
    clients.append(client)
    return srv, client


async def test_garbage_between_events(servers, clients) -> None:
    rng = random.Random(99)
    parts = []
    for i in range(200):
        parts.append(ev("Good", i))
        if rng.random() < 0.5:
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))).replace(b"\r\n\r\n", b"")
            parts.append(junk + b"\r\n\r\n")
    srv, client = await _client(servers, clients, synthetic(b"".join(parts)), split_rng=random.Random(1))
    got: list[Message] = []
    client.subscribe(got.append, "Good")
    await client.start()
    await wait_until(lambda: len(got) >= 190, what="good events")
    await client.drain()
    # a junk block glued in front of an event can eat that one event; never more, never a crash
    assert len(got) >= 200 - sum(1 for p in parts if not p.startswith(b"Event: Good"))
    assert [int(m["Seq"]) for m in got] == sorted(int(m["Seq"]) for m in got)
    st = client.stats
    assert st.malformed + st.decode_errors > 0 and client.connected


async def test_byte_by_byte_partial_frames(servers, clients) -> None:
    data = load("ami/chinese_callerid").received
    body = data[data.index(b"\r\n\r\n") + 4 :]  # everything after the login response
    events = [b for b in body.split(b"\r\n\r\n") if b.startswith(b"Event: ")]
    srv = ReplayServer([synthetic(body)])
    servers.append(srv)

    class OneByte(random.Random):
        def randint(self, a: int, b: int) -> int:
            return 1

        def choice(self, seq):  # type: ignore[override]
            return seq[0]

    srv.rng = OneByte()
    client = AmiClient(fast_settings(await srv.listen()))
    clients.append(client)
    got: list[Message] = []
    client.subscribe(got.append)
    await client.start()
    await wait_until(lambda: len(got) >= len(events), what="all events")
    names = [m.get("CallerIDName") for m in got if m.name == "Newchannel"]
    assert "张三" in names
    assert client.stats.decode_errors == 0


async def test_oversized_frame_does_not_blow_memory(clients) -> None:
    big = b"Event: Huge\r\nData: " + b"x" * (16 * 1024 * 1024) + b"\r\n\r\n" + ev("After", 1)
    view = memoryview(big)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        login = await reader.readuntil(b"\r\n\r\n")
        aid = [ln for ln in login.split(b"\r\n") if ln.startswith(b"ActionID: ")][0][10:]
        writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n")
        for i in range(0, len(view), 65536):
            writer.write(view[i : i + 65536])
            await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = AmiClient(fast_settings(server.sockets[0].getsockname()[1]), max_message=64 * 1024)
    clients.append(client)
    got: list[str] = []
    client.subscribe(lambda m: got.append(m.name))
    tracemalloc.start()
    try:
        await client.start()
        await wait_until(lambda: "After" in got, what="event after the oversized frame")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.close()
    assert "Huge" not in got
    assert client.stats.oversized == 1
    # the client never buffered the 16 MiB frame: a few read buffers at most
    assert peak < 4 * 1024 * 1024, peak


async def test_unknown_events_reach_wildcard_subscribers(servers, clients) -> None:
    payload = ev("SomethingNew", 1, Odd="a: b: c", Empty="") + ev("Newchannel", 2)
    srv, client = await _client(servers, clients, synthetic(payload))
    got: list[Message] = []
    client.subscribe(got.append)
    await client.start()
    await wait_until(lambda: len(got) >= 2)
    assert got[0].name == "SomethingNew" and got[0]["Odd"] == "a: b: c" and got[0].get("Empty") == ""


async def test_raising_handler_does_not_starve_others(servers, clients, caplog) -> None:
    payload = b"".join(ev("Tick", i) for i in range(50))
    srv, client = await _client(servers, clients, synthetic(payload))
    good: list[int] = []

    def broken(m: Message) -> None:
        raise ValueError("handler bug")

    async def broken_async(m: Message) -> None:
        raise KeyError("async handler bug")

    client.subscribe(broken, "Tick")
    client.subscribe(broken_async, "Tick")
    client.subscribe(lambda m: good.append(int(m["Seq"])), "Tick")
    await client.start()
    await wait_until(lambda: len(good) == 50)
    st = client.stats
    assert good == list(range(50))
    assert st.handler_errors == 100
    assert sorted(st.handler_errors_by_name.values()) == [50, 50]
    logged = [r for r in caplog.records if r.name == "cti.ami.client" and r.exc_info]
    assert len(logged) == 2  # once per handler
    assert any("broken_async" in r.getMessage() for r in logged)


async def test_slow_handler_does_not_stall_reader_and_queue_is_bounded(servers, clients) -> None:
    payload = b"".join(ev("Burst", i) for i in range(400))
    srv, client = await _client(servers, clients, synthetic(payload), settings={"event_queue_size": 100})
    gate = asyncio.Event()
    seen: list[int] = []

    async def slow(m: Message) -> None:
        await gate.wait()
        seen.append(int(m["Seq"]))

    client.subscribe(slow, "Burst")
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(client.stats.dropped)

    client.on_connect(resync)
    await client.start()
    await wait_until(lambda: client.stats.events_received + client.stats.dropped >= 400 or client.stats.dropped > 0)
    # responses are still matched while the consumer is stuck
    r = await client.action("Ping")
    assert r["Ping"] == "Pong"
    await wait_until(lambda: client.stats.events_received >= 400 - 0, what="all read")
    st = client.stats
    assert st.dropped > 0 and st.queue_depth <= 100 and st.queue_high_water <= 100
    gate.set()
    await client.drain()
    assert len(seen) == 400 - st.dropped
    assert seen == sorted(seen)
    # once drained, the lost events are made good by a resynchronisation (the on-connect hooks)
    await wait_until(lambda: len(resyncs) == 2, what="resync after overflow")
    assert resyncs[1] == st.dropped and client.stats.overflow_resyncs == 1


async def test_call_cut_at_random_offsets_no_leaks(servers) -> None:
    trace = load("ami/asyncagi_ivr_dtmf")
    segs = trace.segments()
    # bytes Asterisk sent up to the ASYNCAGI BREAK's results (the rest follows a command we refuse to send)
    brk = next(i for i, sg in enumerate(segs) if sg.action is not None and sg.action.get("Command") == "ASYNCAGI BREAK")
    total = sum(len(sg.data) for sg in segs[: brk + 1])
    rng = random.Random(2024)
    offsets = sorted(rng.sample(range(20, int(total * 0.97)), 110))
    baseline = len(asyncio.all_tasks())
    outcomes: dict[str, int] = {}
    cut = 0
    logging.getLogger("cti").setLevel(logging.ERROR)
    try:
        for off in offsets:
            srv = ReplayServer([trace, None], cut_at=off)
            port = await srv.listen()
            client = AmiClient(fast_settings(port), rng=random.Random(off))
            agi = AgiManager(client, default_timeout=10.0)
            finished = asyncio.Event()

            async def ivr(s: AgiSession) -> None:
                try:
                    await s.stream_file("hello-world")
                    await s.get_data("beep", 5000, 1)
                    await s.command("SET VARIABLE IVR_CHOICE 1")
                    await s.get_variable("IVR_CHOICE")
                    for c in ("SET CONTEXT rig-util", "SET EXTENSION wait", "SET PRIORITY 1"):
                        await s.command(c)
                    await s.break_()
                    outcomes["completed"] = outcomes.get("completed", 0) + 1
                except (AgiHangup, AmiNotConnected) as exc:
                    outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
                except asyncio.CancelledError:
                    outcomes["cancelled"] = outcomes.get("cancelled", 0) + 1
                    raise
                finally:
                    finished.set()

            agi.on_session(ivr)
            await asyncio.wait_for(client.start(), 20)
            # either the link was cut (then a second, login-only connection follows) or the call ran to its end
            await wait_until(lambda: srv.cut or finished.is_set(), what=f"cut at {off} or end of call")
            if srv.cut:
                cut += 1
                await wait_until(lambda: srv.connections >= 2 and client.connected, what=f"reconnect after cut at {off}")
                await wait_until(lambda: not agi.tasks and not agi.sessions, what="session ended after reconnect")
            await wait_until(lambda: agi.pending_commands == 0, what="no pending AGI command")
            await client.stop()
            agi.close()
            await srv.close()
            for _ in range(5):
                await asyncio.sleep(0)
            assert len(asyncio.all_tasks()) == baseline, [t.get_name() for t in asyncio.all_tasks()]
    finally:
        logging.getLogger("cti").setLevel(logging.NOTSET)
    gc.collect()
    assert cut >= 100
    assert set(outcomes) <= {"completed", "AgiHangup", "AmiNotConnected", "cancelled"}
    assert outcomes.get("AmiNotConnected", 0) + outcomes.get("cancelled", 0) > 0
