"""1,000+ concurrent calls (correctness only) and restart semantics."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from cti.ami.protocol import encode_action
from pbxsim.callers import CallerScript
from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi


async def test_thousand_concurrent_calls():
    sim = PbxSimulator(SimConfig(port=0, speed=20))
    await sim.start()
    ami = await RawAmi.connect(sim.ami_port)
    await ami.login()
    await ami.event("FullyBooted")

    waiting: list[str] = []
    hangups: list[str] = []
    n = 1000

    def on_message(m):
        if m.kind != "Event":
            return
        ch = m.fields.get("Channel")
        if m.name == "Hangup":
            hangups.append(ch)
        elif m.name == "AsyncAGIStart":
            waiting.append(ch)
            if len(waiting) == n:  # every call is up and in the IVR: now serve them all
                assert len(sim.pbx.registry) == n
                for c in waiting:
                    ami.send_raw(encode_action("AGI", {"Channel": c, "Command": "GET DATA welcome 3000 1",
                                                       "CommandID": "d"}, None))
        elif m.name == "AsyncAGIExec" and m.fields.get("CommandId") == "d":
            digit = unquote(m.fields["Result"]).split("=")[1].strip()
            ami.send_raw(encode_action("AGI", {"Channel": ch, "Command": f"SET VARIABLE CHOICE {digit}",
                                               "CommandID": "v"}, None))
            ami.send_raw(encode_action("AGI", {"Channel": ch, "Command": "HANGUP", "CommandID": "h"}, None))

    ami.handlers.append(on_message)
    calls = [await sim.place_call(CallerScript(caller_num=f"139{i:08d}", keys=[str(i % 10)], think_time=0.5))
             for i in range(n)]
    while len(ami.events("AsyncAGIStart")) < n:
        await asyncio.sleep(0.05)
    outcomes = await asyncio.gather(*(c.wait(120) for c in calls))
    assert all(o.agi_results[0] == f"200 result={i % 10}" for i, o in enumerate(outcomes))
    assert all(o.hung_up_by == "pbx" for o in outcomes)
    names = {o.channel for o in outcomes}
    assert len(names) == n and len({o.uniqueid for o in outcomes}) == n
    for _ in range(600):  # the client may still be reading the last events
        if len(hangups) >= n:
            break
        await asyncio.sleep(0.1)
    assert sorted(hangups) == sorted(names) and len(sim.pbx.registry) == 0
    assert not sim.pbx.bridges  # nothing left behind
    for _ in range(100):
        if not sim.pbx.tasks:
            break
        await asyncio.sleep(0.02)
    assert not sim.pbx.tasks
    await ami.close()
    await sim.stop()


async def test_restart_resets_numbering_and_closes(sim, ami):
    call = await sim.place_call(CallerScript())
    await ami.event("AsyncAGIStart")
    assert call.channel.name.endswith("-00000000")
    call2 = await sim.place_call(CallerScript())
    assert call2.channel.name.endswith("-00000001")
    await sim.restart()
    sd = await ami.event("Shutdown")
    assert [k for k, _ in sd.headers] == ["Event", "Privilege", "Shutdown", "Restart"]
    await asyncio.wait_for(ami._task, 5)
    assert ami.eof
    c = await RawAmi.connect(sim.ami_port)
    await c.login()
    _, items, done = await c.list_action("CoreShowChannels")
    assert items == [] and done["ListItems"] == "0"
    call3 = await sim.place_call(CallerScript())
    assert call3.channel.name == "PJSIP/trunk-00000000"
    await c.close()


async def test_thousand_calls_bridged_to_seats():
    """1,000 concurrent callers, each given its own seat (Originate + Bridge), talk, hang up: all clean."""
    from pbxsim.config import AgentBehaviour
    n = 1000
    sim = PbxSimulator(SimConfig(port=0, speed=20, agent_range=(8001, 8000 + n),
                                 agent_default=AgentBehaviour(answer_after=0.5)))
    await sim.start()
    ami = await RawAmi.connect(sim.ami_port)
    await ami.login()
    await ami.event("FullyBooted")
    seats: dict[str, str] = {}
    bridged: set[str] = set()

    def on_message(m):
        if m.kind != "Event":
            return
        if m.name == "AsyncAGIStart":
            ch = m.fields["Channel"]
            seat = str(8001 + len(seats))
            seats[seat] = ch
            ami.send_raw(encode_action("Originate", {
                "Channel": f"PJSIP/{seat}", "Context": "hotline-agent", "Exten": "connect", "Priority": "1",
                "Variable": f"HOTLINE_CALL={ch}", "Async": "true", "ActionID": f"o-{seat}"}, f"o-{seat}"))
        elif m.name == "OriginateResponse" and m.fields.get("Response") == "Success":
            seat = m.fields["ActionID"][2:]
            ami.send_raw(encode_action("Bridge", {"Channel1": seats[seat], "Channel2": m.fields["Channel"]}, None))
        elif m.name == "BridgeEnter":
            bridged.add(m.fields["Channel"])

    ami.handlers.append(on_message)
    calls = [await sim.place_call(CallerScript(caller_num=f"137{i:08d}", talk_time=2.0)) for i in range(n)]
    outcomes = await asyncio.gather(*(c.wait(120) for c in calls))
    assert all(o.hung_up_by == "caller" and len(o.bridged_with) == 1 for o in outcomes)
    assert len({o.bridged_with[0] for o in outcomes}) == n  # every caller had its own seat
    for _ in range(300):
        if not sim.pbx.registry.channels and not sim.pbx.bridges:
            break
        await asyncio.sleep(0.05)
    assert not sim.pbx.registry.channels and not sim.pbx.bridges
    await ami.close()
    await sim.stop()
