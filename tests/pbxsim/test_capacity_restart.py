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
