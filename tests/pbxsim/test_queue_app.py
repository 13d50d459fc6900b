"""The Queue() application (rig dialplan: 7100 -> Queue(q-general,tT,,,300)), events as in queue_* captures."""

from __future__ import annotations

import pytest

from pbxsim.callers import CallerScript
from pbxsim.config import AgentBehaviour, SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi
from .test_conformance import _check_fields, corpus_field_sets
from .test_replay import SHARED, rig_dialplan

pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="capture corpus not present")


@pytest.fixture
async def rig(tmp_path):
    dp = tmp_path / "rig.conf"
    dp.write_text(rig_dialplan(), encoding="utf-8")
    sim = PbxSimulator(SimConfig(port=0, speed=20, dialplan_path=dp, agent_context="agents",
                                 trunk_context="from-caller"))
    await sim.start()
    ami = await RawAmi.connect(sim.ami_port)
    await ami.login()
    yield sim, ami
    await ami.close()
    await sim.stop()


async def test_queue_agent_answers(rig):
    sim, ami = rig
    sim.agents["8001"] = AgentBehaviour(answer_after=1.5, name="Agent 8001")
    await ami.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8001", "MemberName": "Agent 8001",
                                  "StateInterface": "PJSIP/8001", "Penalty": "0", "Paused": "false"})
    call = await sim.place_call(CallerScript(dnis="7100", caller_num="1001", caller_name="Caller 1001",
                                             talk_time=3.0))
    ch = call.channel.name
    join = await ami.event("QueueCallerJoin", Channel=ch)
    assert (join["Position"], join["Count"]) == ("1", "1")
    called = await ami.event("AgentCalled", Channel=ch)
    agent = called["DestChannel"]
    begin = await ami.event("DialBegin", Channel=ch)
    assert begin["DialString"] == "PJSIP/8001"
    ring = await ami.event("QueueMemberStatus", Status="6")
    assert ring["InCall"] == "0"
    conn = await ami.event("AgentConnect", Channel=ch)
    assert conn["DestChannel"] == agent and conn["MemberName"] == "Agent 8001"
    leave = await ami.event("QueueCallerLeave", Channel=ch)
    assert leave["Count"] == "0"
    _, items, _ = await ami.list_action("QueueStatus", {"Queue": "q-general"})
    member = [i for i in items if i.name == "QueueMember"][0]
    assert (member["InCall"], member["Status"]) == ("1", "2")
    done = await ami.event("AgentComplete", Channel=ch)
    assert done["Reason"] == "caller"
    after = await ami.event("QueueMemberStatus", Status="1", CallsTaken="1")
    assert after["LastCall"] != "0"
    names = [m.name for m in ami.messages if m.kind == "Event" and m.get("Channel") == ch]
    assert names.index("AgentComplete") < names.index("BridgeLeave")
    await ami.event("Hangup", Channel=agent)
    assert _check_fields(ami.messages, corpus_field_sets()) == []


async def test_queue_ring_no_answer_then_abandon(rig):
    sim, ami = rig
    sim.agents["8003"] = AgentBehaviour(mode="ring", name="Agent 8003")
    await ami.action("QueueAdd", {"Queue": "q-general", "Interface": "PJSIP/8003", "MemberName": "Agent 8003"})
    call = await sim.place_call(CallerScript(dnis="7100", caller_num="1002", hangup_after=25.0))
    ch = call.channel.name
    rna = await ami.event("AgentRingNoAnswer", Channel=ch, timeout=20)
    assert rna["RingTime"] == "15000"
    ends = [m["DialStatus"] for m in ami.events("DialEnd", Channel=ch)]
    assert ends == ["NOANSWER", "CANCEL"]
    _, items, _ = await ami.list_action("QueueStatus", {"Queue": "q-general"})
    entry = [i for i in items if i.name == "QueueEntry"][0]
    assert entry["Channel"] == ch and entry["Position"] == "1"
    _, summary, _ = await ami.list_action("QueueSummary", {"Queue": "q-general"})
    assert summary[0]["Callers"] == "1"
    ab = await ami.event("QueueCallerAbandon", Channel=ch, timeout=20)
    assert (ab["Position"], ab["OriginalPosition"]) == ("1", "1")
    await ami.event("QueueCallerLeave", Channel=ch)
    await ami.event("Hangup", Channel=ch)
    names = [m.name for m in ami.messages if m.kind == "Event" and m.get("Channel") == ch]
    assert names.index("MusicOnHoldStop") < names.index("QueueCallerAbandon") < names.index("QueueCallerLeave")
    assert _check_fields(ami.messages, corpus_field_sets()) == []
