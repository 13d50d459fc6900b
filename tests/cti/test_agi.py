"""AsyncAGI over AMI, driven by the captured AsyncAGI scenarios (record-replay)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, Callable

import pytest

from cti.agi import AgiError, AgiHangup, AgiManager, AgiResult, AgiSession, AgiTimeout, agi_quote, parse_env, parse_result
from cti.ami.client import AmiClient
from cti.ami.protocol import Message

from .conftest import fast_settings, wait_until
from .tracefixtures import ReplayServer, load


# -- pure parsing -------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,code,result,data,endpos,timeout",
    [
        ("200 result=1\n", 200, "1", None, None, False),
        ("200 result= (timeout)\n", 200, "", "timeout", None, True),
        ("200 result=42 (timeout)\n", 200, "42", "timeout", None, True),
        ("200 result=0 endpos=11234\n", 200, "0", None, 11234, False),
        ("200 result=-1 endpos=52960\n", 200, "-1", None, 52960, False),
        ("200 result=1 (value)\n", 200, "1", "value", None, False),
        ('200 result=1 ("张三" <utf8caller>)\n', 200, "1", '"张三" <utf8caller>', None, False),
        ("200 result=1 (a (b) c)\n", 200, "1", "a (b) c", None, False),
        ("200 result=0\n", 200, "0", None, None, False),
        ("510 Invalid or unknown command\n", 510, "", "Invalid or unknown command", None, False),
        ("511 Command Not Permitted on a dead channel or intercept routine\n", 511, "", None, None, False),
    ],
)
def test_parse_result(raw, code, result, data, endpos, timeout) -> None:
    r = parse_result(raw)
    assert (r.code, r.result, r.endpos, r.timeout) == (code, result, endpos, timeout)
    if code == 200 or data is not None:
        assert r.data == data
    assert r.raw == raw.rstrip("\n")
    assert r.ok == (code == 200)


def test_parse_every_captured_result_and_env() -> None:
    from urllib.parse import unquote

    seen = set()
    for name in ("ami/asyncagi_ivr_dtmf", "ami/asyncagi_timeout", "ami/chinese_callerid", "ami/bulk_events",
                 "ami/asyncagi_caller_hangs_up_midcommand", "ami/redirect_to_queue", "ami/asyncagi_break_dialplan_continues"):
        for m in load(name).messages():
            if m.name == "AsyncAGIExec":
                r = parse_result(unquote(m["Result"]))
                assert r.code == 200 and r.result != "" or r.timeout
                seen.add(r.raw)
            if m.name == "AsyncAGIStart":
                env = parse_env(m["Env"])
                assert env["agi_request"] == "async" and env["agi_channel"] == m["Channel"]
                assert env["agi_uniqueid"] == m["Uniqueid"]
                assert "agi_accountcode" in env and env["agi_accountcode"] == ""
    assert "200 result= (timeout)" in seen and "200 result=42 (timeout)" in seen


def test_env_utf8_and_parentheses() -> None:
    env = parse_env("agi_calleridname%3A%20%E5%BC%A0%E4%B8%89%0Aagi_x%3A%20(a)%20b%0A%0A")
    assert env == {"agi_calleridname": "张三", "agi_x": "(a) b"}


def test_quote() -> None:
    assert agi_quote("beep") == "beep"
    assert agi_quote("") == '""'
    assert agi_quote("来电 张三") == '"来电 张三"'
    assert agi_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert agi_quote("投诉", always=True) == '"投诉"'
    with pytest.raises(ValueError):
        agi_quote("a\nb")


# -- replayed sessions ----------------------------------------------------------------
async def _setup(name: str, servers, clients, handler: Callable[[AgiSession], Awaitable[Any]], **srv_kw):
    srv = ReplayServer([load(name)], split_rng=random.Random(name), **srv_kw)
    servers.append(srv)
    port = await srv.listen()
    client = AmiClient(fast_settings(port), rng=random.Random(1))
    clients.append(client)
    agi = AgiManager(client, default_timeout=10.0)
    agi.on_session(handler)
    await client.start()
    return srv, client, agi


def _agi_commands(srv: ReplayServer) -> list[str]:
    return [m["Command"] for m in srv.received[0] if m.get("Action") == "AGI"]


async def test_ivr_dtmf(servers, clients) -> None:
    log: list[Any] = []
    done = asyncio.Event()

    async def ivr(s: AgiSession) -> None:
        log.append(("env", s.env["agi_callerid"], s.env["agi_extension"], s.env["agi_context"], s.uniqueid == s.env["agi_uniqueid"]))
        log.append(await s.stream_file("hello-world"))
        log.append(await s.get_data("beep", 5000, 1))
        await s.command("SET VARIABLE IVR_CHOICE 1")
        log.append(await s.get_variable("IVR_CHOICE"))
        for c in ("SET CONTEXT rig-util", "SET EXTENSION wait", "SET PRIORITY 1"):
            await s.command(c)
        log.append((await s.break_()).result)
        await wait_until(lambda: not s.active, what="AsyncAGIEnd")
        try:
            await s.stream_file("beep")  # Asterisk would accept it and never run it
        except AgiHangup as exc:
            log.append(("refused", "AsyncAGIEnd" in str(exc)))
        done.set()

    srv, client, agi = await _setup("ami/asyncagi_ivr_dtmf", servers, clients, ivr)
    await asyncio.wait_for(done.wait(), 20)
    assert log == [
        ("env", "1001", "12345", "from-caller", True),
        (None, 11234),
        ("1", False),
        "1",
        "0",
        ("refused", True),
    ]
    # the commands on the wire are the captured ones, except the refused one
    assert _agi_commands(srv) == [m["Command"] for m in load("ami/asyncagi_ivr_dtmf").sent_actions() if m.get("Action") == "AGI"][:-1]
    # our CommandIDs, not the captured ones, and every one distinct
    cids = [m["CommandID"] for m in srv.received[0] if m.get("Action") == "AGI"]
    assert len(set(cids)) == len(cids) and all(c.startswith("agi") for c in cids)
    assert agi.pending_commands == 0


async def test_timeout_results(servers, clients) -> None:
    out: list[Any] = []
    done = asyncio.Event()

    async def ivr(s: AgiSession) -> None:
        out.append(await s.get_data("beep", 3000, 4))
        out.append(await s.wait_for_digit(2000))
        out.append(await s.get_data("beep", 3000, 4))
        out.append(await s.get_data("beep", 5000, 6))
        r = await s.hangup()
        out.append((r.code, r.result))
        done.set()

    srv, client, agi = await _setup("ami/asyncagi_timeout", servers, clients, ivr)
    await asyncio.wait_for(done.wait(), 20)
    assert out == [("", True), None, ("42", True), ("7", False), (200, "1")]
    assert _agi_commands(srv) == ["GET DATA beep 3000 4", "WAIT FOR DIGIT 2000", "GET DATA beep 3000 4", "GET DATA beep 5000 6", "HANGUP"]


async def test_caller_hangs_up_midcommand(servers, clients) -> None:
    results: dict[str, Any] = {}
    started = asyncio.Event()
    sessions: list[AgiSession] = []

    async def ivr(s: AgiSession) -> None:
        sessions.append(s)
        # second command queued behind the first, as in the capture
        t1 = asyncio.ensure_future(s.stream_file("demo-congrats"))
        t2 = asyncio.ensure_future(s.get_data("beep", 3000, 1))
        results["t1"], results["t2"] = t1, t2
        started.set()
        await asyncio.gather(t1, t2, return_exceptions=True)
        await asyncio.sleep(3600)  # cancelled by the Hangup

    srv, client, agi = await _setup("ami/asyncagi_caller_hangs_up_midcommand", servers, clients, ivr)
    await asyncio.wait_for(started.wait(), 20)
    t1, t2 = results["t1"], results["t2"]
    assert await asyncio.wait_for(t1, 20) == (None, 52960) or (await t1)[0] is None
    with pytest.raises(AgiHangup):
        await asyncio.wait_for(t2, 20)
    s = sessions[0]
    await wait_until(lambda: not agi.tasks, what="session task cancelled by Hangup")
    assert not s.active and s.ended_reason in ("AsyncAGIEnd", "hangup")
    with pytest.raises(AgiHangup):
        await s.stream_file("beep")  # refused locally; never sent
    assert _agi_commands(srv) == ['STREAM FILE demo-congrats ""', "GET DATA beep 3000 1"]
    assert agi.pending_commands == 0


async def test_chinese_callerid(servers, clients) -> None:
    got: dict[str, Any] = {}
    done = asyncio.Event()

    async def ivr(s: AgiSession) -> None:
        if s.channel.startswith("Local/"):
            got["env_name"] = s.caller_name
            got["name"] = await s.get_full_variable("${CALLERID(name)}")
            got["topic"] = await s.get_variable("TOPIC")
            await s.command('SET VARIABLE 诉求类型 "投诉"')
            got["type"] = await s.get_full_variable("${诉求类型}")
            await s.verbose("来电 张三", 1)
            await client.action("Setvar", {"Channel": s.channel, "Variable": "CALLERID(name)", "Value": "李四"})
            r = await client.action("Getvar", {"Channel": s.channel, "Variable": "CALLERID(all)"})
            got["getvar"] = r["Value"]
            await s.hangup()
        else:
            got["sip_env_name"] = s.env["agi_calleridname"]
            got["sip_all"] = await s.get_full_variable("${CALLERID(all)}")
            done.set()

    srv, client, agi = await _setup("ami/chinese_callerid", servers, clients, ivr)
    r = await client.action("Originate", {"Channel": "Local/12345@from-caller", "Application": "Wait", "Data": "20",
                                          "CallerID": '"张三" <13800138000>', "Variable": "TOPIC=噪音扰民", "Async": "true"})
    assert r["Message"] == "Originate successfully queued"
    await asyncio.wait_for(done.wait(), 20)
    assert got == {
        "env_name": "张三", "name": "张三", "topic": "噪音扰民", "type": "投诉",
        "getvar": '"李四" <13800138000>', "sip_env_name": "张三", "sip_all": '"张三" <utf8caller>',
    }
    cap = [m["Command"] for m in load("ami/chinese_callerid").sent_actions() if m.get("Action") == "AGI"]
    assert _agi_commands(srv) == cap


async def test_bulk_twenty_sessions(servers, clients) -> None:
    played: list[tuple[str, Any]] = []

    async def ivr(s: AgiSession) -> None:
        played.append((s.channel, await s.stream_file("beep")))

    srv, client, agi = await _setup("ami/bulk_events", servers, clients, ivr)
    await wait_until(lambda: len(played) == 20, what="20 sessions")
    assert len({c for c, _ in played}) == 20
    assert all(r[0] is None and r[1] is not None for _, r in played)
    await wait_until(lambda: not agi.tasks and not agi.sessions, what="all hung up")


async def test_break_then_dialplan_continues(servers, clients) -> None:
    done = asyncio.Event()
    seen: list[Any] = []

    async def ivr(s: AgiSession) -> None:
        seen.append(await s.stream_file("beep"))
        await s.command("SET VARIABLE IVR_RESULT done")
        await s.break_()
        done.set()

    srv, client, agi = await _setup("ami/asyncagi_break_dialplan_continues", servers, clients, ivr)
    await asyncio.wait_for(done.wait(), 20)
    assert seen[0][0] is None


# -- synthetic: restart, timeout, 5xx, dead channel ----------------------------------------
class FakeClient:
    """Stands in for AmiClient: records actions, lets the test inject events."""

    def __init__(self) -> None:
        self.subs: list[tuple[Any, tuple[str, ...]]] = []
        self.actions: list[tuple[str, dict]] = []
        self.reply: Callable[[str, dict], Any] = lambda n, h: Message("Response", "Success", {"Response": "Success"})
        self.disc: list[Any] = []
        self.conn: list[Any] = []

    def subscribe(self, handler, *names):
        self.subs.append((handler, names))
        return lambda: None

    def on_disconnect(self, fn):
        self.disc.append(fn)
        return lambda: None

    def on_connect(self, fn):
        self.conn.append(fn)
        return lambda: None

    async def action(self, name, headers=None, timeout=None):
        self.actions.append((name, dict(headers or {})))
        r = self.reply(name, dict(headers or {}))
        if isinstance(r, BaseException):
            raise r
        return r

    def emit(self, name: str, **fields: str) -> None:
        m = Message("Event", name, {"Event": name, **fields})
        for h, names in self.subs:
            if not names or name in names:
                h(m)


def _start(fc: FakeClient, ch: str, uid: str = "1.1", name: str = "%E5%BC%A0%E4%B8%89") -> None:
    env = f"agi_request%3A%20async%0Aagi_channel%3A%20{ch.replace('/', '%2F')}%0Aagi_callerid%3A%2013800138000%0Aagi_calleridname%3A%20{name}%0A%0A"
    fc.emit("AsyncAGIStart", Channel=ch, Uniqueid=uid, Linkedid=uid, Env=env)


async def test_session_restart_on_same_channel_is_a_new_session() -> None:
    fc = FakeClient()
    agi = AgiManager(fc)  # type: ignore[arg-type]
    sessions: list[AgiSession] = []

    async def h(s: AgiSession) -> None:
        sessions.append(s)
        await asyncio.sleep(3600)

    agi.on_session(h)
    _start(fc, "PJSIP/1001-00000001")
    await asyncio.sleep(0)
    fc.emit("AsyncAGIEnd", Channel="PJSIP/1001-00000001")
    assert not sessions[0].active
    _start(fc, "PJSIP/1001-00000001")
    await asyncio.sleep(0)
    assert len(sessions) == 2 and sessions[1].active and sessions[1].seq == 2
    assert sessions[0].caller_name == "张三"
    assert agi.session("PJSIP/1001-00000001") is sessions[1]
    fc.emit("Hangup", Channel="PJSIP/1001-00000001")
    await wait_until(lambda: not agi.tasks, what="tasks cancelled")
    assert not sessions[1].active


async def test_command_timeout_error_and_hangup_while_queued() -> None:
    fc = FakeClient()
    agi = AgiManager(fc, default_timeout=5.0)  # type: ignore[arg-type]
    _start(fc, "PJSIP/x-1")
    s = agi.session("PJSIP/x-1")
    assert s is not None
    with pytest.raises(AgiTimeout) as ei:
        await s.command("WAIT FOR DIGIT 100", timeout=0.01)
    assert "WAIT" in str(ei.value)
    assert agi.pending_commands == 0

    # 5xx
    async def exec_5xx() -> AgiResult:
        t = asyncio.ensure_future(s.command("FOO BAR"))
        await wait_until(lambda: fc.actions and fc.actions[-1][1]["Command"] == "FOO BAR")
        fc.emit("AsyncAGIExec", Channel="PJSIP/x-1", CommandId=fc.actions[-1][1]["CommandID"],
                Result="510%20Invalid%20or%20unknown%20command%0A")
        return await t

    with pytest.raises(AgiError) as e5:
        await exec_5xx()
    assert e5.value.result is not None and e5.value.result.code == 510 and not isinstance(e5.value, AgiHangup)

    # a running and a queued command both fail at once on AsyncAGIEnd; AGIExec's CommandId is ignored
    t1 = asyncio.ensure_future(s.command('STREAM FILE x ""'))
    t2 = asyncio.ensure_future(s.command("GET DATA beep 3000 1"))
    await wait_until(lambda: len(fc.actions) >= 4)
    fc.emit("AGIExecEnd", Channel="PJSIP/x-1", CommandId="123456", Result="Success")
    assert not t1.done()
    fc.emit("AsyncAGIExec", Channel="PJSIP/x-1", CommandId=fc.actions[-2][1]["CommandID"], Result="200%20result%3D-1%20endpos%3D5%0A")
    fc.emit("AsyncAGIEnd", Channel="PJSIP/x-1")
    assert (await t1).endpos == 5
    with pytest.raises(AgiHangup):
        await t2
    n = len(fc.actions)
    with pytest.raises(AgiHangup):
        await s.command("ANSWER")
    assert len(fc.actions) == n  # refused locally


async def test_agi_action_error_on_gone_channel_is_hangup() -> None:
    from cti.ami.errors import AmiActionError

    fc = FakeClient()
    agi = AgiManager(fc)  # type: ignore[arg-type]
    fc.reply = lambda n, h: AmiActionError(n, Message("Response", "Error", {"Response": "Error", "Message": "Channel PJSIP/x-2 does not exist."}))
    _start(fc, "PJSIP/x-2")
    s = agi.session("PJSIP/x-2")
    with pytest.raises(AgiHangup):
        await s.answer()
    assert not s.active


async def test_disconnect_fails_pending_with_not_connected() -> None:
    from cti.ami.errors import AmiNotConnected

    fc = FakeClient()
    agi = AgiManager(fc)  # type: ignore[arg-type]
    _start(fc, "PJSIP/x-3")
    s = agi.session("PJSIP/x-3")
    t = asyncio.ensure_future(s.answer())
    await wait_until(lambda: bool(fc.actions))
    for fn in fc.disc:
        fn(ConnectionResetError())
    with pytest.raises(AmiNotConnected):
        await t
    assert agi.pending_commands == 0


async def test_handler_exception_is_logged_and_counted(caplog) -> None:
    fc = FakeClient()
    agi = AgiManager(fc)  # type: ignore[arg-type]

    async def bad(s: AgiSession) -> None:
        raise RuntimeError("boom")

    agi.on_session(bad)
    caplog.set_level("INFO", logger="cti.agi")
    _start(fc, "PJSIP/1001-00000009", name="x")
    await wait_until(lambda: agi.session_errors == 1)
    assert any("bad" in r.getMessage() and r.exc_info for r in caplog.records)
    agi_lines = [r.getMessage() for r in caplog.records if r.name == "cti.agi"]
    assert any("138****8000" in m for m in agi_lines)  # caller numbers are masked
    assert not any("13800138000" in m for m in agi_lines)


async def test_resync_after_reconnect_ends_gone_and_departed_sessions() -> None:
    fc = FakeClient()
    agi = AgiManager(fc)  # type: ignore[arg-type]
    running: list[AgiSession] = []

    async def h(s: AgiSession) -> None:
        running.append(s)
        await asyncio.sleep(3600)

    agi.on_session(h)
    for ch in ("PJSIP/a-1", "PJSIP/b-2", "PJSIP/c-3"):
        _start(fc, ch)
    await asyncio.sleep(0)
    for fn in fc.disc:
        fn(None)

    async def list_action(name, headers=None, timeout=None):
        assert name == "CoreShowChannels"
        return [Message("Event", "CoreShowChannel", {"Event": "CoreShowChannel", "Channel": "PJSIP/b-2", "Application": "AGI"}),
                Message("Event", "CoreShowChannel", {"Event": "CoreShowChannel", "Channel": "PJSIP/c-3", "Application": "Wait"})]

    fc.list_action = list_action  # type: ignore[attr-defined]
    for fn in fc.conn:
        await fn()
    a, b, c = (agi.session(ch) for ch in ("PJSIP/a-1", "PJSIP/b-2", "PJSIP/c-3"))
    assert a is None  # gone: ended, its task cancelled
    assert b is not None and b.active
    assert c is not None and not c.active and "left AsyncAGI" in (c.ended_reason or "")
    await wait_until(lambda: len(agi.tasks) == 2)
    agi.close()
    await wait_until(lambda: not agi.tasks)
