"""Call model + call control end to end: AMI client against the PBX simulator."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from cti import events as E
from cti.ami.client import AmiClient
from cti.conference import ConferenceService
from cti.control import CallControl
from cti.model import CallModel
from cti.resync import Resync
from cti.transfer import TransferService
from hotline.bus import LocalBus
from hotline.settings import AmiSettings
from pbxsim.callers import CallerScript
from pbxsim.config import AgentBehaviour, SimConfig
from pbxsim.sim import PbxSimulator


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, e: object) -> None:
        self.events.append(e)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class ListSink:
    def __init__(self) -> None:
        self.records: list[E.CallRecord] = []

    async def write(self, record: E.CallRecord) -> None:
        self.records.append(record)


@dataclass
class Stack:
    sim: PbxSimulator
    client: AmiClient
    bus: LocalBus
    model: CallModel
    control: CallControl
    transfers: TransferService
    conferences: ConferenceService
    resync: Resync
    seen: Recorder
    sink: ListSink

    async def settle(self) -> None:
        await self.client.drain()
        await self.bus.drain()
        await asyncio.sleep(0)
        await self.client.drain()
        await self.bus.drain()

    async def until(self, pred: Callable[[], Any], timeout: float = 10.0) -> None:
        """Wait for a condition (a deadline against hangs, not a timing assertion)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred():
            if loop.time() > end:
                raise AssertionError("condition not reached")
            await asyncio.sleep(0.005)
        await self.settle()

    async def inbound(self, **kw: Any) -> tuple[Any, str]:
        call = await self.sim.place_call(CallerScript(**kw))
        await self.until(lambda: call.channel is not None and self.model.channel(call.channel.uniqueid) is not None)
        ch = self.model.channel(call.channel.uniqueid)
        assert ch is not None
        await self.until(lambda: ch.state_name == "up")
        return call, ch.call_id

    async def agent_for(self, call_id: str, seat: str = "8001") -> str:
        caller = self.model.call(call_id).caller
        res = await self.control.originate(f"PJSIP/{seat}", context="hotline-agent", exten="connect", call_id=call_id)
        assert res.outcome == "answered", res
        await self.control.bridge(res.channel, caller.name)
        await self.until(lambda: [p.name for p in self.model.peers(caller.name)] == [res.channel])
        return res.channel

    async def quiet(self) -> None:
        """Every channel gone in the simulator and in the model."""
        await self.until(lambda: self.sim.metrics().channels_live == 0 and self.model.live_calls == 0)
        await self.model.flush()


async def make_stack(speed: float = 20.0, **cfg: Any) -> Stack:
    sim = PbxSimulator(SimConfig(port=0, speed=speed, **cfg))
    await sim.start()
    client = AmiClient(
        AmiSettings(port=sim.ami_port, username=sim.config.username, secret=sim.config.secret,
                    reconnect_initial=0.01, reconnect_max=0.05, ping_interval=3600)
    )
    bus = LocalBus()
    seen = Recorder()
    bus.subscribe(seen, name="recorder")
    sink = ListSink()
    model = CallModel(bus, sink)
    await model.start()
    client.subscribe(model.handle)
    control = CallControl(client, model, bus)
    control.start()
    transfers = TransferService(control, model, bus)
    bus.subscribe(transfers.on_event, *TransferService.EVENTS, name="transfers")
    conferences = ConferenceService(control, model, bus)
    bus.subscribe(conferences.on_event, *ConferenceService.EVENTS, name="conferences")
    resync = Resync(client, model, bus)
    resync.attach()
    await client.start(timeout=10)
    stack = Stack(sim, client, bus, model, control, transfers, conferences, resync, seen, sink)
    await stack.until(lambda: resync.runs >= 1)
    return stack


async def close_stack(s: Stack) -> None:
    await s.client.stop()
    await s.model.stop()
    await s.bus.close()
    await s.sim.stop()


@pytest.fixture
async def stack():
    s = await make_stack()
    try:
        yield s
    finally:
        await close_stack(s)


# ---------------------------------------------------------------------------
async def test_inbound_call_agent_leg_and_cdr(stack: Stack) -> None:
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000001", caller_name="张三")
    c = stack.model.call(cid)
    assert c.dnis == "12345" and c.caller_name == "张三" and c.caller_num == "13800000001"
    agent = await stack.agent_for(cid)
    assert stack.model.call(cid) is c and len(c.channels) == 2  # the agent leg joined the call
    await stack.control.send_dtmf(agent, "1#")
    await stack.control.setvar(agent, "HOTLINE_AFTER", "survey")
    assert await stack.control.getvar(agent, "HOTLINE_AFTER") == "survey"
    await stack.control.hangup(call.channel.name, 16)
    await stack.quiet()
    (rec,) = stack.sink.records
    assert rec.call_id == cid and rec.agent == "8001" and rec.disposition == "ANSWERED"
    assert [leg.role for leg in rec.legs] == ["caller", "agent"]
    assert rec.connected_at is not None and rec.hangup_cause == 16
    assert stack.resync.runs == 1


async def test_hold_and_unhold_keep_the_agent(stack: Stack) -> None:
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000002")
    agent = await stack.agent_for(cid)
    caller = call.channel.name
    peer = await stack.control.hold(caller)
    assert peer == agent
    await stack.until(lambda: stack.model.resolve(caller).moh_class is not None)
    assert stack.model.resolve(agent) is not None  # the agent leg survived the hold
    await stack.control.unhold(caller)
    await stack.until(lambda: [p.name for p in stack.model.peers(caller)] == [agent])
    assert stack.seen.of(E.HoldStarted) and stack.seen.of(E.HoldEnded)
    stack.sim.hangup(call)
    await stack.quiet()
    assert len(stack.sink.records) == 1


async def test_originate_failures_are_reported_and_accounted(stack: Stack) -> None:
    stack.sim.agents["8003"] = AgentBehaviour(mode="busy")
    stack.sim.agents["8004"] = AgentBehaviour(mode="ring")
    busy = await stack.control.originate("PJSIP/8003", context="hotline-agent", exten="connect", channel_id="busy-1")
    assert not busy.success and busy.reason == 0 and busy.uniqueid == "busy-1"
    noans = await stack.control.originate("PJSIP/8004", context="hotline-agent", exten="connect", ring_timeout=2)
    assert noans.outcome == "no_answer"
    await stack.quiet()
    records = {r.call_id: r for r in stack.sink.records}
    assert records["busy-1"].disposition == "BUSY"
    assert len(records) == 2 and all(r.answered_at is None for r in records.values())


async def test_blind_transfer_of_an_ivr_caller_redirects(stack: Stack) -> None:
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000003")
    out = await stack.control.blind_transfer(call.channel.name, "hotline-outbound", "12319")
    assert out.kind == "redirect"
    await stack.until(lambda: stack.model.resolve(call.channel.name).context == "hotline-outbound")
    stack.sim.hangup(call)
    await stack.quiet()
    (rec,) = stack.sink.records
    assert rec.call_id == cid


async def test_attended_transfer_server_driven_completes(stack: Stack) -> None:
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000004")
    agent = await stack.agent_for(cid)
    t = await stack.transfers.start_attended(agent, "8002", target_context="hotline-agent")
    await stack.until(lambda: t.state.name == "consulting")
    assert stack.model.resolve(call.channel.name).moh_class is not None  # the caller hears music meanwhile
    await t.complete()
    assert t.state.name == "completed"
    caller = call.channel.name
    await stack.until(lambda: [p.name.split("-")[0] for p in stack.model.peers(caller)] == ["PJSIP/8002"])
    stack.sim.hangup(call)
    await stack.quiet()
    (rec,) = stack.sink.records
    roles = [leg.role for leg in rec.legs]
    assert roles[:2] == ["caller", "agent"] and "transfer" in roles
    assert [e.kind for e in stack.seen.of(E.TransferCompleted)] == ["attended"]


async def test_attended_transfer_recipient_busy_gives_the_caller_back(stack: Stack) -> None:
    stack.sim.agents["8002"] = AgentBehaviour(mode="busy")
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000005")
    agent = await stack.agent_for(cid)
    t = await stack.transfers.start_attended(agent, "8002", target_context="hotline-agent")
    await t.wait(10)
    assert t.state.name == "failed" and t.returned_to == "agent"
    await stack.until(lambda: [p.name for p in stack.model.peers(call.channel.name)] == [agent])
    stack.sim.hangup(call)
    await stack.quiet()
    assert len(stack.sink.records) == 1


async def test_attended_transfer_cancel_returns_to_agent(stack: Stack) -> None:
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000006")
    agent = await stack.agent_for(cid)
    t = await stack.transfers.start_attended(agent, "8002", target_context="hotline-agent")
    await stack.until(lambda: t.state.name == "consulting")
    await t.cancel()
    await stack.until(lambda: [p.name for p in stack.model.peers(call.channel.name)] == [agent])
    stack.sim.hangup(call)
    await stack.quiet()
    assert len(stack.sink.records) == 1


async def test_caller_hangs_up_during_consultation(stack: Stack) -> None:
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000007")
    agent = await stack.agent_for(cid)
    t = await stack.transfers.start_attended(agent, "8002", target_context="hotline-agent")
    await stack.until(lambda: t.state.name == "consulting")
    stack.sim.hangup(call)
    await stack.until(lambda: t.state.name == "abandoned")
    await stack.control.hangup(agent)
    await stack.quiet()
    assert len(stack.sink.records) == 1


async def test_blind_transfer_of_a_bridged_caller(stack: Stack) -> None:
    """BlindTransfer on the agent leg; where the PBX refuses it the caller is redirected instead.
    Either way the caller ends up at the target and the agent leg is released."""
    call, cid = await stack.inbound(dnis="12345", caller_num="13800000008")
    agent = await stack.agent_for(cid)
    out = await stack.control.blind_transfer(call.channel.name, "hotline-outbound", "12319")
    assert out.kind in ("blind", "redirect")
    await stack.until(lambda: stack.model.resolve(call.channel.name).context == "hotline-outbound")
    await stack.until(lambda: stack.model.resolve(agent) is None)  # the agent is free again
    stack.sim.hangup(call)
    await stack.quiet()
    (rec,) = stack.sink.records
    assert rec.call_id == cid and rec.agent == "8001"
