from dataclasses import dataclass

import pytest

from router.connector import CallControlConnector
from router.service import LinkLostError


@dataclass
class Res:
    outcome: str
    channel: str = ""
    uniqueid: str = ""


@dataclass
class Msg:
    fields: dict


class FakeControl:
    def __init__(self):
        self.calls = []
        self.vars = {}
        self.next = Res("answered", "PJSIP/8001-00000001", "u1")

    async def originate(self, channel, **kw):
        self.calls.append(("originate", channel, kw))
        return self.next

    async def bridge(self, a, b, tone=False):
        if a == "gone":
            raise RuntimeError("no such channel")
        self.calls.append(("bridge", a, b))

    async def hangup(self, channel, cause=16):
        raise RuntimeError("already gone")

    async def setvar(self, channel, name, value):
        self.vars[(channel, name)] = value

    async def getvar(self, channel, name):
        return self.vars.get((channel, name))


class FakeClient:
    def __init__(self, rows):
        self.rows = rows

    async def list_action(self, name, headers=None, timeout=None):
        return [Msg(r) for r in self.rows]


async def test_ring_agent_originates_into_agent_context():
    ctl = FakeControl()
    c = CallControlConnector(ctl)
    r = await c.ring_agent("8001", "call-1", "13900000000", 15)
    assert r.outcome == "answered" and r.channel == "PJSIP/8001-00000001"
    _, ch, kw = ctl.calls[0]
    assert ch == "PJSIP/8001" and kw["context"] == "hotline-agent" and kw["exten"] == "connect"
    assert kw["call_id"] == "call-1" and kw["ring_timeout"] == 15 and kw["role"] == "agent"
    ctl.next = Res("timeout", "PJSIP/8001")
    assert (await c.ring_agent("8001", "c", "", 15)).outcome == "no_answer"
    ctl.next = Res("congestion", "PJSIP/8001")
    assert (await c.ring_agent("8001", "c", "", 15)).outcome == "failed"


async def test_citizen_callback_goes_to_hold():
    ctl = FakeControl()
    c = CallControlConnector(ctl)
    await c.ring_citizen("13800000001", "call-9", 30)
    _, ch, kw = ctl.calls[0]
    assert ch == "Local/13800000001@hotline-outbound" and kw["context"] == "hotline-hold" and kw["exten"] == "moh"


async def test_bridge_and_hangup_never_raise():
    c = CallControlConnector(FakeControl())
    assert await c.bridge("PJSIP/trunk-1", "PJSIP/8001-1") is True
    assert await c.bridge("gone", "PJSIP/8001-1") is False
    await c.hangup("PJSIP/x")  # swallowed


async def test_bridge_whose_answer_was_lost_with_the_link_raises_link_lost():
    class Lost(Exception):
        def __init__(self, kind):
            super().__init__(f"Bridge failed ({kind})")
            self.kind = kind

    for kind in ("not_connected", "timeout"):
        control = FakeControl()

        async def bridge(a, b, tone=False, kind=kind):
            raise Lost(kind)

        control.bridge = bridge
        with pytest.raises(LinkLostError):
            await CallControlConnector(control).bridge("PJSIP/trunk-1", "PJSIP/8001-1")


async def test_live_legs_read_back_marks():
    ctl = FakeControl()
    rows = [
        {"Channel": "PJSIP/trunk-00000001", "Linkedid": "L1", "BridgeId": "", "CallerIDNum": "139"},
        {"Channel": "PJSIP/trunk-00000002", "Linkedid": "L2", "BridgeId": "b1", "CallerIDNum": "138"},
        {"Channel": "PJSIP/8001-00000003", "Linkedid": "L3", "BridgeId": "b1"},
        {"Channel": "PJSIP/8002-00000004", "Linkedid": "L4", "BridgeId": ""},
    ]
    c = CallControlConnector(ctl, FakeClient(rows))
    await c.mark("PJSIP/trunk-00000001", "general", "normal", 1700000000.5, "waiting")
    await c.mark("PJSIP/trunk-00000002", "general", "normal", 1700000001.0, "connected")
    ctl.vars[("PJSIP/8001-00000003", "HOTLINE_ROLE")] = "agent"
    ctl.vars[("PJSIP/8001-00000003", "HOTLINE_CALL")] = "L2"
    ctl.vars[("PJSIP/8002-00000004", "HOTLINE_ROLE")] = "agent"
    legs = {l.channel: l for l in await c.live_legs()}
    w = legs["PJSIP/trunk-00000001"]
    assert (w.kind, w.queue, w.priority, w.enqueued_at, w.state, w.call_id) == (
        "caller", "general", "normal", 1700000000.5, "waiting", "L1")
    assert legs["PJSIP/trunk-00000002"].bridged_with == "PJSIP/8001-00000003"
    a = legs["PJSIP/8001-00000003"]
    assert (a.kind, a.seat, a.for_call, a.bridged_with) == ("agent", "8001", "L2", "PJSIP/trunk-00000002")
    assert legs["PJSIP/8002-00000004"].bridged_with == ""
