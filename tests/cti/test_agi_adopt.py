"""AgiManager after a (re)login: channels in AsyncAGI that nobody drives are adopted;
a BridgeEnter ends the session (live Asterisk 22: Action Bridge sends no AsyncAGIEnd)."""

from __future__ import annotations

import asyncio
from typing import Any

from cti.agi import AgiHangup, AgiManager, AgiSession
from cti.ami.protocol import Message

from .conftest import wait_until
from .test_agi import FakeClient, _start


def _item(ch: str, app: str = "AGI", data: str = "agi:async", **extra: str) -> Message:
    f = {"Event": "CoreShowChannel", "Channel": ch, "Uniqueid": "9.1", "Linkedid": "9.0",
         "CallerIDNum": "13800138000", "CallerIDName": "<unknown>", "Context": "hotline-inbound",
         "Exten": "12345", "Priority": "4", "Application": app, "ApplicationData": data, "BridgeId": ""}
    f.update(extra)
    return Message("Event", "CoreShowChannel", f)


def _client(items: list[Message], dnis: str | None = "12345") -> FakeClient:
    fc = FakeClient()

    async def list_action(name: str, headers: Any = None, timeout: Any = None) -> list[Message]:
        assert name == "CoreShowChannels"
        return items

    fc.list_action = list_action  # type: ignore[attr-defined]
    fc.reply = lambda n, h: Message("Response", "Success", {"Response": "Success", "Value": dnis or ""}) \
        if n == "Getvar" else Message("Response", "Success", {"Response": "Success"})
    return fc


async def test_login_adopts_a_channel_whose_asyncagistart_was_missed() -> None:
    fc = _client([_item("PJSIP/trunk-1"), _item("PJSIP/trunk-2", app="Wait", data="1"),
                  _item("PJSIP/trunk-3", BridgeId="b-1")])
    agi = AgiManager(fc)  # type: ignore[arg-type]
    got: list[AgiSession] = []

    async def h(s: AgiSession) -> None:
        got.append(s)

    agi.on_session(h)
    for fn in fc.conn:
        await fn()
    await wait_until(lambda: got)
    assert [s.channel for s in got] == ["PJSIP/trunk-1"]
    s = got[0]
    assert s.resumed and s.uniqueid == "9.1" and s.linkedid == "9.0"
    assert s.env["agi_dnid"] == "12345" and s.env["agi_extension"] == "12345"
    assert s.env["agi_context"] == "hotline-inbound" and s.env["agi_callerid"] == "13800138000"
    assert s.env["agi_calleridname"] == "unknown"
    assert ("Getvar", {"Channel": "PJSIP/trunk-1", "Variable": "HOTLINE_DNIS"}) in fc.actions
    # a second login finds it driven/known: no second adoption
    for fn in fc.conn:
        await fn()
    await asyncio.sleep(0)
    assert len(got) == 1 and agi.adopted == 1
    agi.close()


async def test_session_ended_by_the_link_loss_is_adopted_again_when_its_handler_is_gone() -> None:
    fc = _client([_item("PJSIP/trunk-1")])
    agi = AgiManager(fc)  # type: ignore[arg-type]
    got: list[AgiSession] = []
    release = asyncio.Event()

    async def h(s: AgiSession) -> None:
        got.append(s)
        if not s.resumed:
            await release.wait()  # still finishing when the new login's scan runs

    agi.on_session(h)
    _start(fc, "PJSIP/trunk-1", uid="9.1")
    await asyncio.sleep(0)
    for fn in fc.disc:
        fn(None)
    for fn in fc.conn:
        await fn()
    assert len(got) == 1  # driven: left alone by the scan
    release.set()  # the handler ends (the IVR's link_lost): now it is adopted
    await wait_until(lambda: len(got) == 2)
    old, new = got
    assert not old.active and new.resumed and new.active and new.seq == 2
    agi.close()


async def test_a_session_never_driven_is_not_adopted_on_a_quiet_reconnect() -> None:
    fc = _client([_item("PJSIP/trunk-1")])
    agi = AgiManager(fc)  # type: ignore[arg-type]
    _start(fc, "PJSIP/trunk-1", uid="9.1")
    s = agi.session("PJSIP/trunk-1")
    for fn in fc.disc:
        fn(None)
    for fn in fc.conn:
        await fn()
    assert agi.session("PJSIP/trunk-1") is s and s is not None and s.active
    agi.close()


async def test_bridge_enter_ends_the_session_and_fails_pending_commands_at_once() -> None:
    fc = FakeClient()
    agi = AgiManager(fc, default_timeout=30)  # type: ignore[arg-type]
    _start(fc, "PJSIP/trunk-1")
    s = agi.session("PJSIP/trunk-1")
    assert s is not None
    t = asyncio.ensure_future(s.command("STREAM FILE hold \"\""))
    await asyncio.sleep(0)
    fc.emit("BridgeEnter", Channel="PJSIP/trunk-1", BridgeUniqueid="b-1")
    try:
        await asyncio.wait_for(t, 1)
    except AgiHangup:
        pass
    else:
        raise AssertionError("the pending command did not fail")
    assert not s.active and s.ended_reason == "left AGI (bridged)"
    try:
        await s.command("NOOP")
    except AgiHangup:
        pass
    else:
        raise AssertionError("a command after the bridge was accepted")
    # another channel's BridgeEnter changes nothing
    _start(fc, "PJSIP/trunk-2")
    s2 = agi.session("PJSIP/trunk-2")
    fc.emit("BridgeEnter", Channel="PJSIP/8001-1", BridgeUniqueid="b-1")
    assert s2 is not None and s2.active
    agi.close()


async def test_bridge_enter_while_the_sessions_own_exec_runs_keeps_it() -> None:
    fc = FakeClient()
    agi = AgiManager(fc, default_timeout=30)  # type: ignore[arg-type]
    _start(fc, "PJSIP/trunk-1")
    s = agi.session("PJSIP/trunk-1")
    assert s is not None
    t = asyncio.ensure_future(s.exec("Dial", "PJSIP/8001"))
    await asyncio.sleep(0)
    fc.emit("BridgeEnter", Channel="PJSIP/trunk-1", BridgeUniqueid="b-1")
    assert s.active
    t.cancel()
    agi.close()


async def test_hangup_request_is_noted_on_the_session() -> None:
    fc = FakeClient()
    agi = AgiManager(fc)  # type: ignore[arg-type]
    _start(fc, "PJSIP/trunk-1")
    s = agi.session("PJSIP/trunk-1")
    assert s is not None and s.hangup_requested is False
    fc.emit("HangupRequest", Channel="PJSIP/trunk-1", Cause="16")
    assert s.hangup_requested
    agi.close()


async def test_a_handler_that_drove_the_channel_again_after_the_reconnect_is_not_replaced() -> None:
    fc = _client([_item("PJSIP/trunk-1")])
    agi = AgiManager(fc)  # type: ignore[arg-type]
    got: list[AgiSession] = []
    go = asyncio.Event()

    async def h(s: AgiSession) -> None:
        got.append(s)
        if s.resumed:
            return
        await go.wait()
        await s.command("NOOP")  # answered: the session is driven again; then the handler ends

    agi.on_session(h)
    _start(fc, "PJSIP/trunk-1", uid="9.1")
    await asyncio.sleep(0)
    for fn in fc.disc:
        fn(None)
    for fn in fc.conn:
        await fn()
    go.set()
    await wait_until(lambda: any(n == "AGI" for n, _ in fc.actions))
    cid = next(h["CommandID"] for n, h in fc.actions if n == "AGI")
    fc.emit("AsyncAGIExec", Channel="PJSIP/trunk-1", CommandId=cid, Result="200%20result%3D0%0A")
    await wait_until(lambda: not agi.tasks)
    await asyncio.sleep(0.01)
    assert len(got) == 1 and agi.adopted == 0
    agi.close()
