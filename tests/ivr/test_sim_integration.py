"""The engine on the PBX simulator: AMI client -> AgiManager -> IvrEngine.

The PBX simulator runs the real dialplan contexts; the caller's keys are
consumed by every digit-accepting AGI command (GET DATA, and STREAM FILE with
escape digits such as the welcome prompt's barge-in), hence the leading "".
The queue and transfers are the scripted stand-ins (the router and the CTI are
tested on their own).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from cti.agi import AgiManager
from cti.ami.client import AmiClient
from hotline.settings import AmiSettings
from ivr.bundle import FlowBundle, FlowRegistry
from ivr.engine import EngineConfig, IvrEngine
from ivr.ports import FixedClock, MemoryRecorder, SessionSummary  # noqa: F401
from ivr.simulate import ScriptedActions, ScriptedQueue
from pbxsim.callers import CallerScript
from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator
from tests.ivr.conftest import WORKDAY_10AM


@dataclass
class Rig:
    sim: PbxSimulator
    client: AmiClient
    agi: AgiManager
    engine: IvrEngine
    recorder: MemoryRecorder
    queue: ScriptedQueue
    summaries: list[SessionSummary]

    async def until(self, pred: Callable[[], Any], timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred():
            if loop.time() > end:
                raise AssertionError("condition not reached")
            await asyncio.sleep(0.005)


SHIPPED_DIALPLAN = SimConfig().dialplan_path


def dialplan_with_named_reentry(tmp: Path) -> Path:
    """The shipped dialplan plus a named ``survey`` extension in hotline-ivr.

    The shipped [hotline-ivr] only has ``_X.`` (digits), so ``Goto(hotline-ivr,survey,1)``
    finds no extension and the caller is hung up instead of hearing the survey.
    """
    text = SHIPPED_DIALPLAN.read_text(encoding="utf-8")
    fix = ("[hotline-ivr]\nexten => survey,1,NoOp(hotline IVR re-entry ${EXTEN})\n"
           " same => n,AGI(agi:async)\n same => n,Hangup()\n")
    assert "[hotline-ivr]\n" in text
    p = tmp / "extensions.conf"
    p.write_text(text.replace("[hotline-ivr]\n", fix, 1), encoding="utf-8")
    return p


@pytest.fixture
async def rig(bundle: FlowBundle) -> AsyncIterator[Rig]:
    async for r in _rig(bundle, SHIPPED_DIALPLAN):
        yield r


@pytest.fixture
async def rig_named(bundle: FlowBundle, tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in _rig(bundle, dialplan_with_named_reentry(tmp_path)):
        yield r


async def _rig(bundle: FlowBundle, dialplan: Path) -> AsyncIterator[Rig]:
    sim = PbxSimulator(SimConfig(port=0, speed=50.0, dialplan_path=dialplan))
    await sim.start()
    client = AmiClient(AmiSettings(port=sim.ami_port, username=sim.config.username, secret=sim.config.secret,
                                   reconnect_initial=0.01, reconnect_max=0.05, ping_interval=3600))
    agi = AgiManager(client, default_timeout=10.0)
    recorder = MemoryRecorder()
    queue = ScriptedQueue()
    engine = IvrEngine(FlowRegistry(bundle), queue, ScriptedActions(), recorder, clock=FixedClock(WORKDAY_10AM),
                       config=EngineConfig(agi_timeout=10.0, hangup_grace=0.05))
    summaries = recorder.summaries  # also written when the session's task is cancelled on hang-up
    agi.on_session(engine.handle)
    await client.start(timeout=10)
    r = Rig(sim, client, agi, engine, recorder, queue, summaries)
    try:
        yield r
    finally:
        agi.close()
        await client.stop()
        await sim.stop()


async def test_call_to_12345_reaches_the_policy_queue(rig: Rig) -> None:
    call = await rig.sim.place_call(CallerScript(dnis="12345", caller_num="13912345678", keys=["", "", "1"],
                                                 think_time=0.2, hangup_after=30))
    await rig.until(lambda: rig.summaries)
    s = rig.summaries[0]
    assert s.outcome == "connected"
    assert s.ivr_path == ("main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy")
    assert s.call_id == call.channel.linkedid  # type: ignore[union-attr]
    assert rig.queue.requests[0].call.caller == "13912345678"
    cmds = call.agi_commands
    assert cmds[0].startswith("STREAM FILE ") and cmds[0].endswith('/welcome "0123456789*#"')
    assert any(c.endswith("/main_menu 6000 1") for c in cmds)
    assert call.channel.get_var("HOTLINE_AFTER") == "survey"  # type: ignore[union-attr]


async def test_caller_hangs_up_in_the_menu(rig: Rig) -> None:
    await rig.sim.place_call(CallerScript(dnis="12345", keys=["", ""], think_time=0.2, hangup_after=5))
    await rig.until(lambda: rig.summaries)
    s = rig.summaries[0]
    assert s.outcome == "caller_hangup"
    assert s.ivr_path[-1] in ("main.welcome", "main.main_menu")
    assert rig.recorder.events[-1].event == "hangup"


async def _survey_after_agent(rig: Rig, wait: float = 20.0) -> None:
    """The IVR sets HOTLINE_AFTER=survey; when the caller leaves AGI (here: ASYNCAGI BREAK, as
    after an agent's bridge) the dialplan sends them to hotline-ivr,survey and the survey flow runs."""
    call = await rig.sim.place_call(CallerScript(dnis="12319", keys=["4"], think_time=0.2, hangup_after=60))
    await rig.until(lambda: rig.summaries)
    first = rig.summaries[0]
    assert first.outcome == "connected" and first.hotline == "12319"
    session = rig.agi.session(call.channel.name)  # type: ignore[union-attr]
    assert session is not None
    await session.command("ASYNCAGI BREAK")
    await rig.until(lambda: len(rig.summaries) == 2, wait)
    second = rig.summaries[1]
    assert second.flow == "survey"
    assert second.survey_score == 4
    assert second.call_id == first.call_id
    await rig.until(lambda: call.done)


async def test_survey_after_the_agent_leaves(rig_named: Rig) -> None:
    await _survey_after_agent(rig_named)


async def test_survey_after_the_agent_leaves_with_the_shipped_dialplan(rig: Rig) -> None:
    await _survey_after_agent(rig, wait=2.0)
