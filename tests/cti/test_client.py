"""AmiClient life cycle against replayed captures: login, failed login, Shutdown and
reconnect, login before FullyBooted, heartbeat, timeouts, subscriptions, threads."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from cti.ami.client import AmiClient, Backoff
from cti.ami.errors import AmiActionError, AmiNotConnected, AmiTimeout
from cti.ami.protocol import Framer, Message

from .conftest import fast_settings, wait_until
from .tracefixtures import ReplayServer, load


def _headers(cap: Message) -> list[tuple[str, str]]:
    return [(k, v) for k, v in cap.headers if k not in ("Action", "ActionID")]


def _captured(trace_name: str, action: str, nth: int = 0) -> tuple[Message, Message]:
    t = load(trace_name)
    acts = [a for a in t.sent_actions() if a.get("Action") == action]
    cap = acts[nth]
    resp = next(m for m in t.messages() if m.kind == "Response" and m.action_id == cap["ActionID"])
    return cap, resp


async def test_login_ok_and_logoff(servers, clients) -> None:
    srv = ReplayServer([load("ami/login_ok")])
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()), action_id_prefix="t")
    clients.append(client)
    assert not client.connected
    with pytest.raises(AmiNotConnected):
        await client.action("Ping")
    await client.start()
    assert client.connected
    login = srv.received[0][0]
    assert login.headers[:2] == [("Action", "Login"), ("ActionID", "t-1")]
    assert login["Username"] == "ivr" and login["Secret"] == "ivrsecret"
    await client.stop()
    assert not client.connected
    assert [m["Action"] for m in srv.received[0]] == ["Login", "Logoff"]
    with pytest.raises(AmiNotConnected):
        await client.action("Ping")


async def test_start_waits_for_the_login_response() -> None:
    got_login = asyncio.Event()
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        f = Framer(expect_banner=False)
        msgs: list[Message] = []
        while not msgs:
            msgs = f.feed(await reader.read(1000))
        got_login.set()
        await release.wait()
        writer.write(f"Response: Success\r\nActionID: {msgs[0]['ActionID']}\r\nMessage: Authentication accepted\r\n\r\n".encode())
        await reader.read(1000)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = AmiClient(fast_settings(server.sockets[0].getsockname()[1]))
    try:
        start = asyncio.ensure_future(client.start())
        await asyncio.wait_for(got_login.wait(), 20)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not start.done() and not client.connected
        release.set()
        await asyncio.wait_for(start, 20)
        assert client.connected
    finally:
        await client.stop()
        server.close()


async def test_bad_secret_logs_one_line_per_attempt_and_backs_off(servers, clients, caplog) -> None:
    trace = load("ami/login_bad_secret")
    srv = ReplayServer([trace] * 50)
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen(), secret="wrong-secret", reconnect_initial=0.01, reconnect_max=0.08),
                       rng=random.Random(3))
    clients.append(client)
    caplog.set_level(logging.INFO, logger="cti.ami.client")
    delays: list[float] = []
    orig = client._backoff.next

    def record() -> float:
        d = orig()
        delays.append(d)
        return d

    client._backoff.next = record  # type: ignore[method-assign]
    start = asyncio.ensure_future(client.start())
    await wait_until(lambda: client.stats.login_failures >= 5, what="5 refused logins")
    assert not start.done()
    await client.stop()
    with pytest.raises(AmiNotConnected):
        await start
    refused = [r for r in caplog.records if r.levelno == logging.ERROR and "login refused" in r.getMessage()]
    assert len(refused) == client.stats.login_failures
    assert "Authentication failed" in refused[0].getMessage() and "wrong-secret" not in refused[0].getMessage()
    assert client.stats.logins == 0
    # exponential with jitter: each delay within [d/2, d] of its step, capped at reconnect_max
    b = Backoff(0.01, 0.08, random.Random(0))
    caps = [min(0.08, 0.01 * 2**i) for i in range(len(delays))]
    assert len(delays) >= 4
    assert all(c / 2 <= d <= c for d, c in zip(delays, caps)), (delays, caps)
    assert max(delays) <= 0.08 and b.next() <= 0.01


async def test_start_timeout_raises_not_connected(clients) -> None:
    # nothing listens on this port
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = AmiClient(fast_settings(port))
    clients.append(client)
    with pytest.raises(AmiNotConnected):
        await client.start(timeout=0.3)
    assert client.stats.connect_failures >= 1


@pytest.mark.parametrize("without_fullybooted", [False, True])
async def test_shutdown_refused_connects_then_login_before_fullybooted(servers, clients, without_fullybooted) -> None:
    before, after = load("ami/reconnect/1_before_restart"), load("ami/reconnect/2_after_restart")
    srv = ReplayServer([before, after], close_listener_before_eof=True,
                       strip=("FullyBooted",) if without_fullybooted else ())
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()), rng=random.Random(5))
    clients.append(client)
    connects: list[int] = []
    disconnects: list[Any] = []
    shutdowns: list[Message] = []
    booted: list[Message] = []

    async def on_connect() -> None:
        connects.append(client.stats.logins)

    client.on_connect(on_connect)
    client.on_disconnect(disconnects.append)
    client.subscribe(shutdowns.append, "shutdown")
    client.subscribe(booted.append, "FullyBooted")
    await client.start()

    cap, resp = _captured("ami/reconnect/1_before_restart", "QueueAdd")
    assert (await client.action("QueueAdd", _headers(cap)))["Message"] == resp["Message"]
    cap, resp = _captured("ami/reconnect/1_before_restart", "CoreStatus")
    r = await client.action("CoreStatus")
    assert r["CoreStartupTime"] == "13:03:38"
    # Shutdown + EOF follow; the listener is gone: connects are refused
    await wait_until(lambda: len(disconnects) == 1, what="disconnect")
    assert shutdowns and shutdowns[0]["Shutdown"] == "Cleanly"
    await wait_until(lambda: client.stats.connect_failures >= 2, what="refused connects")
    assert not client.connected
    with pytest.raises(AmiNotConnected):
        await client.action("CoreStatus")
    await srv.listen()
    await wait_until(lambda: client.connected, what="reconnect")
    await wait_until(lambda: len(connects) == 2, what="on_connect after relogin")
    assert connects == [1, 2]
    st = client.stats
    assert st.reconnects == 1 and st.logins == 2 and st.connects == 2
    assert 0 < st.last_backoff <= client.settings.reconnect_max

    r = await client.action("CoreStatus")
    assert r["CoreStartupTime"] == "13:05:09"
    qs = await client.list_action("QueueStatus")
    assert [m.name for m in qs] == ["QueueParams"]  # the dynamic member is gone after the restart
    contacts = await client.list_action("PJSIPShowContacts")
    assert contacts and all(m.name == "ContactList" for m in contacts)
    assert await client.list_action("CoreShowChannels") == []
    cap, resp = _captured("ami/reconnect/2_after_restart", "Originate")
    orig = await client.action("Originate", _headers(cap))
    assert orig["Message"] == "Originate successfully queued"
    if without_fullybooted:
        assert booted == []
    else:
        await wait_until(lambda: len(booted) == 2)


async def test_heartbeat_detects_half_open_link(servers, clients, caplog) -> None:
    srv = ReplayServer([load("ami/login_ok")] * 3, silent=("ping",))
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen(), ping_interval=0.05, pong_timeout=0.05))
    clients.append(client)
    await client.start()
    await wait_until(lambda: client.stats.reconnects >= 1, what="reconnect after missed Pong")
    # dropped after the first unanswered Ping, i.e. within ping_interval + pong_timeout
    assert srv.pings[0] == 1
    assert client.stats.pongs_missed >= 1
    assert any("half-open" in r.getMessage() for r in caplog.records)


async def test_heartbeat_keeps_a_healthy_link(servers, clients) -> None:
    srv = ReplayServer([load("ami/login_ok")])
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen(), ping_interval=0.01, pong_timeout=5))
    clients.append(client)
    await client.start()
    await wait_until(lambda: srv.pings[0] >= 5, what="pings")
    assert client.stats.connects == 1 and client.stats.pongs_missed == 0 and client.connected


async def test_action_timeout_names_the_action(servers, clients) -> None:
    srv = ReplayServer([load("ami/login_ok")], silent=("getvar",))
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()))
    clients.append(client)
    await client.start()
    with pytest.raises(AmiTimeout) as ei:
        await client.action("Getvar", {"Variable": "X"}, timeout=0.05)
    assert "Getvar" in str(ei.value) and ei.value.action_id in str(ei.value)
    assert client.stats.action_timeouts == 1 and client.connected
    with pytest.raises(AmiActionError) as ee:
        await client.action("FooBar")
    assert ee.value.response.name == "Error" and "FooBar" in str(ee.value)
    assert client._pending == {}


async def test_subscriptions_order_async_and_unsubscribe(servers, clients) -> None:
    srv = ReplayServer([load("ami/asyncagi_ivr_dtmf")])
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()))
    clients.append(client)
    order: list[str] = []
    names: list[str] = []

    async def slow(m: Message) -> None:
        await asyncio.sleep(0)
        order.append("a:" + m.name)

    def fast(m: Message) -> None:
        order.append("b:" + m.name)

    client.subscribe(slow, "NEWCHANNEL")
    unsub = client.subscribe(fast, "Newchannel", "Hangup")
    client.subscribe(lambda m: names.append(m.name))
    await client.start()
    await wait_until(lambda: "Newchannel" in names)
    await client.drain()
    assert order[:2] == ["a:Newchannel", "b:Newchannel"]
    unsub()
    n = len(order)
    # AGI traffic drives the rest of the trace
    await client.action("AGI", {"Channel": "PJSIP/1001-00000003", "Command": 'STREAM FILE hello-world ""', "CommandID": "x"})
    await client.drain()
    assert all(not o.startswith("b:") for o in order[n:])
    assert "FullyBooted" in names and "AsyncAGIStart" in names


async def test_on_connect_hook_failure_is_logged_not_fatal(servers, clients, caplog) -> None:
    srv = ReplayServer([load("ami/login_ok")])
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()))
    clients.append(client)
    ran: list[bool] = []

    async def bad() -> None:
        raise RuntimeError("resync failed")

    async def good() -> None:
        ran.append(True)

    client.on_connect(bad)
    client.on_connect(good)
    await client.start()
    await wait_until(lambda: bool(ran))
    await wait_until(lambda: any("bad" in r.getMessage() and r.exc_info for r in caplog.records))
    assert client.connected


async def test_action_from_another_thread(servers, clients) -> None:
    srv = ReplayServer([load("ami/login_ok")])
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()))
    clients.append(client)
    await client.start()
    loop = asyncio.get_running_loop()

    def in_thread() -> Message:
        return client.call_soon_threadsafe_action("Ping").result(timeout=20)

    r = await loop.run_in_executor(None, in_thread)
    assert r["Ping"] == "Pong"


async def test_list_action_error_timeout_and_wait_connected(servers, clients) -> None:
    t = load("ami/action_on_missing_channel")
    srv = ReplayServer([t, None], silent=("queuestatus",))
    servers.append(srv)
    client = AmiClient(fast_settings(await srv.listen()))
    clients.append(client)
    with pytest.raises(AmiNotConnected):
        await client.wait_connected(timeout=0.01)  # not started
    await client.start()
    await client.wait_connected(timeout=5)
    cap, resp = _captured("ami/action_on_missing_channel", "ConfbridgeList")
    with pytest.raises(AmiActionError) as ei:
        await client.list_action("ConfbridgeList", _headers(cap))
    assert ei.value.message == "No active conferences." == resp["Message"]
    with pytest.raises(AmiTimeout) as et:
        await client.list_action("QueueStatus", timeout=0.05)
    assert "QueueStatus" in str(et.value)
    assert client._pending == {} and client._lists == set()
    # a dropped link: waiters resume after the relogin
    srv._writers[0].transport.abort()
    await wait_until(lambda: not client.connected, what="link down")
    await client.wait_connected(timeout=20)
    assert client.stats.reconnects == 1


@pytest.mark.live
async def test_live_asterisk_smoke() -> None:
    """Opt-in: HOTLINE_LIVE_AMI=host:port against a real Asterisk, with the live suite's credentials
    (HOTLINE_LIVE_AMI_USER / _SECRET, else the shipped ``hotline`` user; see tests/live/asterisk)."""
    import os

    from tests.live.harness import DEFAULT_SECRET, DEFAULT_USER

    target = os.environ.get("HOTLINE_LIVE_AMI")
    if not target:
        pytest.skip("HOTLINE_LIVE_AMI not set")
    host, _, port = target.rpartition(":")
    client = AmiClient(fast_settings(int(port), host=host,
                                     username=os.environ.get("HOTLINE_LIVE_AMI_USER", DEFAULT_USER),
                                     secret=os.environ.get("HOTLINE_LIVE_AMI_SECRET", DEFAULT_SECRET)))
    try:
        await client.start(timeout=10)
        assert (await client.action("Ping"))["Ping"] == "Pong"
        chans = await client.list_action("CoreShowChannels")
        assert all(m.name == "CoreShowChannel" for m in chans)
        with pytest.raises(AmiActionError):
            await client.action("Getvar", {"Channel": "PJSIP/none-00000000", "Variable": "X"})
    finally:
        await client.stop()
