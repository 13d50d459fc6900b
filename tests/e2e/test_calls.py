"""Citizens' calls through the whole server, as the caller and the centre's manager see them.

Keys: a caller's ``keys`` answer the digit-accepting AGI commands in order; the first
one is pressed during the barge-in welcome prompt and answers the main menu.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from hotline.storage.models import Call, CallLeg, WorkOrder
from pbxsim.config import AgentBehaviour, TrunkBehaviour
from tests.e2e.conftest import ROOT, E2E, eventually

pytestmark = pytest.mark.timeout(90)


def flow_version(env: E2E, flow: str) -> Any:
    return env.server.ivr.registry.current.flows[flow].version


def agent_seats(out: Any) -> list[str]:
    return [b for b in out.bridged_with if re.match(r"PJSIP/80\d\d-", b)]


async def events_named(env: E2E, call_id: str, name: str) -> list[Any]:
    return [e for e in await env.ivr_events(call_id) if e.event == name]


# ---------------------------------------------------------------------------------------------- 1


async def test_policy_call_answered_then_caller_hangs_up(e2e: E2E) -> None:
    call = await e2e.call(keys=["1"], talk_time=3.0)
    out = await e2e.outcome(call)

    # the caller: welcome with barge-in, pressed 1, queued for policy, bridged with a seat, hung up
    assert out.answered
    assert out.keys_pressed == ["1"]
    assert out.agi_commands[0].startswith("STREAM FILE") and "welcome" in out.agi_commands[0]
    assert any(c.startswith('SET VARIABLE HOTLINE_IVR_PATH "welcome>hours_check>main_menu>set_consult>q_policy"')
               for c in out.agi_commands)
    seats = agent_seats(out)
    assert len(seats) == 1
    assert out.hung_up_by == "caller"

    await e2e.settle()
    row = await e2e.call_row(out.uniqueid)
    assert row.dnis == "12345" and row.hotline == "12345"
    assert row.disposition == "answered"
    assert row.agent is not None and seats[0].startswith(f"PJSIP/{row.agent}-")
    assert row.flow_name == "main" and row.flow_version == flow_version(e2e, "main")
    assert row.answered_at is not None and row.ended_at is not None and row.answered_at <= row.ended_at
    assert row.survey_score is None  # the caller hung up: no survey
    assert await e2e.ivr_path(out.uniqueid) == [
        "main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy"]
    enq = await events_named(e2e, out.uniqueid, "enqueue")
    assert enq and enq[0].data["skill"] == "policy"
    qo = await events_named(e2e, out.uniqueid, "queue_outcome")
    assert qo[0].data["outcome"] == "connected" and qo[0].data["agent"] == row.agent
    legs = {leg.role: leg for leg in await e2e.legs(out.uniqueid)}
    assert legs["caller"].channel == out.channel
    assert legs["agent"].channel == seats[0]
    assert all(leg.ended_at is not None for leg in legs.values())

    # the manager: one offered, one answered, nobody waiting; the seat in wrap-up or free again
    q = e2e.queue_figures("policy")
    assert q["today"]["offered"] == 1 and q["today"]["answered"] == 1 and q["today"]["abandoned"] == 0
    assert q["today"]["answer_rate"] == 1.0
    assert q["waiting"] == 0
    assert e2e.seat_state(row.agent) in ("wrap_up", "available")


async def _survey_after_agent_hangs_up(env: E2E) -> None:
    call = await env.call(keys=["1", "4"])
    # the agent opens a work order on the call while talking to the caller
    async with env.server.db.session() as s:
        s.add(WorkOrder(ticket_no="20261124-0001", call_id=call.channel.uniqueid, type="咨询"))
        await s.commit()
    out = await env.outcome(call)

    assert 'SET VARIABLE HOTLINE_AFTER "survey"' in out.agi_commands
    assert len(agent_seats(out)) == 1
    assert out.keys_pressed == ["1", "4"], "the caller was never asked for the survey score"
    after_bridge = out.agi_commands[out.agi_commands.index('SET VARIABLE HOTLINE_AFTER "survey"'):]
    assert any(c.startswith("GET DATA") and "survey_prompt" in c for c in after_bridge)
    assert out.agi_commands[-1] == "HANGUP"

    await env.settle()
    row = await env.call_row(out.uniqueid)
    assert row.survey_score == 4
    (order,) = await env.rows(WorkOrder)
    assert order.call_id == out.uniqueid and order.satisfaction == 4
    assert row.disposition == "answered" and row.agent is not None
    path = await env.ivr_path(out.uniqueid)
    assert path[:5] == ["main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy"]


AGENT_ENDS_CALL = AgentBehaviour(mode="answer", answer_after=1.0, talk_time=3.0)


async def test_policy_call_agent_hangs_up_then_survey_score_is_stored(e2e_factory: Any) -> None:
    # the agent ends the call; the flow's queue node leaves HOTLINE_AFTER=survey, so the
    # dialplan sends the caller to hotline-ivr,survey where they press 4
    env: E2E = await e2e_factory(agent_default=AGENT_ENDS_CALL)
    await _survey_after_agent_hangs_up(env)


async def test_survey_steps_are_kept_in_the_ivr_path(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(agent_default=AGENT_ENDS_CALL)
    call = await env.call(keys=["1", "4"])
    out = await env.outcome(call)
    await env.settle()
    await env.call_row(out.uniqueid)
    path = await env.ivr_path(out.uniqueid)
    assert path[:5] == ["main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy"]
    assert "survey.rate" in path and path[-1] == "survey.bye"
    survey = await events_named(env, out.uniqueid, "survey")
    assert survey and survey[-1].data == {"score": 4}


async def test_answered_call_leaves_one_closed_row_in_the_calls_table(e2e: E2E) -> None:
    call = await e2e.call(keys=["1"], talk_time=2.0)
    out = await e2e.outcome(call)
    await e2e.settle()
    await e2e.call_row(out.uniqueid)
    rows = await e2e.rows(Call)
    assert [r.id for r in rows] == [out.uniqueid]
    assert all(r.ended_at is not None for r in rows)


async def test_answered_call_records_its_queue(e2e: E2E) -> None:
    call = await e2e.call(keys=["1"], talk_time=2.0)
    out = await e2e.outcome(call)
    await e2e.settle()
    row = await e2e.call_row(out.uniqueid)
    assert row.queue == "policy"


# ---------------------------------------------------------------------------------------------- 2


async def test_enterprise_lane_served_before_normal_callers(e2e_factory: Any) -> None:
    # one seat (8001: general and enterprise skills); it is busy with a first caller while two
    # normal callers queue for an agent, then an enterprise caller presses 3
    env: E2E = await e2e_factory(login=("8001",))
    first = await env.call(keys=["0"], talk_time=40.0)
    await eventually(lambda: env.seat_state("8001") == "on_call", what="8001 on the first call")
    normal = [await env.call(keys=["0"], patience=400.0, talk_time=2.0) for _ in range(2)]
    await eventually(lambda: env.queue_figures("general")["waiting"] == 2, what="two normal callers waiting")
    ent = await env.call(keys=["3"], patience=400.0, talk_time=2.0)
    await eventually(lambda: env.queue_figures("enterprise")["waiting"] == 1, what="enterprise caller waiting")

    env.sim.hangup(first)  # the seat frees up
    out_ent = await env.outcome(ent, 60)
    outs = [await env.outcome(c, 60) for c in normal]

    assert agent_seats(out_ent) and agent_seats(out_ent)[0].startswith("PJSIP/8001-")
    assert all(agent_seats(o) for o in outs)
    await env.settle()
    rows = {c: await env.call_row(c) for c in [out_ent.uniqueid] + [o.uniqueid for o in outs]}
    assert rows[out_ent.uniqueid].answered_at < min(rows[o.uniqueid].answered_at for o in outs)
    # the normal callers were served in their order
    assert rows[outs[0].uniqueid].answered_at < rows[outs[1].uniqueid].answered_at
    path = await env.ivr_path(out_ent.uniqueid)
    assert "main.set_enterprise" in path and path[-1] == "main.q_enterprise"
    enq = await events_named(env, out_ent.uniqueid, "enqueue")
    assert enq[0].data == {"skill": "enterprise", "priority": 1}
    assert env.queue_figures("enterprise")["today"]["answered"] == 1
    assert env.queue_figures("general")["today"]["answered"] == 3


def same_skill_enterprise_flows(tmp: Path) -> Path:
    """The default flows with the enterprise lane queued to the general skill (its lane, not its skill)."""
    out = tmp / "flows-same-skill"
    out.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "flows").iterdir():
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            if f.name == "main.yaml":
                old = "  q_enterprise:\n    type: queue\n    skill: enterprise\n"
                assert old in text
                text = text.replace(old, "  q_enterprise:\n    type: queue\n    skill: general\n")
            (out / f.name).write_text(text, encoding="utf-8")
    return out


async def test_enterprise_lane_served_first_within_the_same_skill(e2e_factory: Any, tmp_path: Path) -> None:
    env: E2E = await e2e_factory(login=("8001",), flows_dir=same_skill_enterprise_flows(tmp_path))
    first = await env.call(keys=["0"], talk_time=40.0)
    await eventually(lambda: env.seat_state("8001") == "on_call", what="8001 on the first call")
    normal = [await env.call(keys=["0"], patience=400.0, talk_time=2.0) for _ in range(2)]
    await eventually(lambda: env.queue_figures("general")["waiting"] == 2, what="two normal callers waiting")
    ent = await env.call(keys=["3"], patience=400.0, talk_time=2.0)
    await eventually(lambda: env.queue_figures("general")["waiting"] == 3, what="enterprise caller waiting")
    by_class = env.queue_figures("general")["waiting_by_class"]
    assert by_class["normal"] == 2 and sum(by_class.values()) == 3

    env.sim.hangup(first)
    out_ent = await env.outcome(ent, 60)
    outs = [await env.outcome(c, 60) for c in normal]
    await env.settle()
    rows = {o.uniqueid: await env.call_row(o.uniqueid) for o in [out_ent, *outs]}
    assert rows[out_ent.uniqueid].answered_at < min(rows[o.uniqueid].answered_at for o in outs)
    assert rows[outs[0].uniqueid].answered_at < rows[outs[1].uniqueid].answered_at
    assert env.queue_figures("general")["today"]["answered"] == 4


async def test_enterprise_caller_waits_in_the_enterprise_lane(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(login=("8001",))
    first = await env.call(keys=["0"], talk_time=40.0)
    await eventually(lambda: env.seat_state("8001") == "on_call", what="8001 on the first call")
    ent = await env.call(keys=["3"], patience=400.0, talk_time=2.0)
    await eventually(lambda: env.queue_figures("enterprise")["waiting"] == 1, what="enterprise caller waiting")
    by_class = env.queue_figures("enterprise")["waiting_by_class"]
    env.sim.hangup(first)
    await env.outcome(ent, 60)
    assert by_class["enterprise"] == 1, by_class


# ---------------------------------------------------------------------------------------------- 3


async def test_12319_direct_merge_enters_its_branch_with_its_skill(e2e: E2E) -> None:
    call = await e2e.call(dnis="12319", talk_time=2.0)
    out = await e2e.outcome(call)
    assert out.keys_pressed == []
    assert len(agent_seats(out)) == 1
    await e2e.settle()
    row = await e2e.call_row(out.uniqueid)
    assert row.hotline == "12319" and row.dnis == "12319"
    assert row.disposition == "answered" and row.agent is not None
    assert await e2e.ivr_path(out.uniqueid) == ["main.entry_12319", "main.set_12319", "main.q_12319"]
    enq = await events_named(e2e, out.uniqueid, "enqueue")
    assert enq[0].data["skill"] == "urban_construction"
    assert e2e.queue_figures("urban_construction")["today"]["answered"] == 1
    assert e2e.queue_figures("general")["today"]["offered"] == 0


class VarTap:
    """What the PBX did, seen from inside the simulator: channel variables (VarSet) and new channels."""

    def __init__(self, env: E2E) -> None:
        self.vars: dict[str, dict[str, str]] = {}
        self.channels: list[tuple[str, str]] = []  # (channel, exten it was created for)
        self.bridges: dict[str, set[str]] = {}  # bridge id -> every channel that ever entered it
        self.unsubscribe = env.sim.subscribe(self._on)

    def _on(self, name: str, headers: Any) -> None:
        h = dict(headers)
        if name == "VarSet":
            self.vars.setdefault(h.get("Channel", ""), {})[h.get("Variable", "")] = h.get("Value", "")
        elif name == "Newchannel":
            self.channels.append((h.get("Channel", ""), h.get("Exten", "")))
        elif name == "BridgeEnter":
            self.bridges.setdefault(h.get("BridgeUniqueid", ""), set()).add(h.get("Channel", ""))

    def bridged(self, a: str, b: str) -> bool:
        """Whether a channel whose name starts with ``a`` shared a bridge with one starting with ``b``."""
        return any(any(c.startswith(a) for c in m) and any(c.startswith(b) for c in m) for m in self.bridges.values())

    def trunk_legs(self, caller_channel: str) -> list[str]:
        return [c for c, _ in self.channels if c.startswith("PJSIP/trunk-") and c != caller_channel]


DEPT_ANSWERS = TrunkBehaviour(mode="answer", answer_after=1.0, talk_time=3.0)
TRANSFER_PATH_12333 = ["main.entry_12333", "main.xfer_12333"]


async def test_12333_call_transfer_carries_context_to_the_department(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(trunk={"12333": DEPT_ANSWERS})
    tap = VarTap(env)
    call = await env.call(dnis="12333")
    dept_vars: dict[str, str | None] = {}
    while not call.done:  # sample the department's leg while it is up
        for name, chan in list(env.sim.pbx.registry.channels.items()):
            if name.startswith("PJSIP/trunk-") and chan.dnid != "12333" and chan.get_var("HOTLINE_CALL"):
                dept_vars = {k: chan.get_var(k) for k in ("HOTLINE_CALL", "HOTLINE_IVR_PATH", "HOTLINE_SUMMARY")}
        await asyncio.sleep(0.02)
    out = await env.outcome(call)

    # the caller: no 12345 seat, bridged with the department's leg, heard hold music meanwhile
    assert not agent_seats(out)
    assert out.bridged_with
    assert any("hold_music" in c for c in out.agi_commands)
    assert 'SET VARIABLE HOTLINE_IVR_PATH "entry_12333>xfer_12333"' in out.agi_commands
    # the transfer leg (Local/12333@hotline-outbound) carries the call's context, inheritable, and dials the trunk
    local = [c for c, _ in tap.channels if c.startswith("Local/12333@hotline-outbound-")]
    assert len(local) == 2 and local[0] in out.bridged_with
    context = {k.lstrip("_"): v for k, v in tap.vars.get(local[0], {}).items() if "HOTLINE_" in k}
    assert context["HOTLINE_CALL"] == out.uniqueid
    assert context["HOTLINE_IVR_PATH"] == "entry_12333>xfer_12333"
    assert context["HOTLINE_SUMMARY"] == "hotline=12333; department=市人力资源和社会保障局"
    assert context["HOTLINE_DNIS"] == "12333"
    trunk = tap.trunk_legs(out.channel)
    assert trunk, "no trunk leg was dialled to the department"
    assert tap.vars[trunk[0]].get("DIALEDPEERNUMBER") == "trunk/12333"
    # the department's own leg (inherited variables raise no VarSet: read while it was up)
    assert dept_vars, "the department's trunk leg was never seen up"
    assert dept_vars.get("HOTLINE_CALL") == out.uniqueid
    assert dept_vars.get("HOTLINE_IVR_PATH") == "entry_12333>xfer_12333"
    assert "hotline=12333" in (dept_vars.get("HOTLINE_SUMMARY") or "")
    await env.settle()
    assert await env.ivr_path(out.uniqueid) == TRANSFER_PATH_12333
    xo = await events_named(env, out.uniqueid, "transfer_outcome")
    assert xo[0].data == {"outcome": "answered"}
    row = await env.call_row(out.uniqueid, ended=False)
    assert row.hotline == "12333" and row.flow_name == "main"
    assert env.queue_figures("social_security")["today"]["offered"] == 0


async def test_12333_transferred_call_is_closed_in_the_calls_table(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(trunk={"12333": DEPT_ANSWERS})
    call = await env.call(dnis="12333")
    out = await env.outcome(call)
    await env.settle()
    row = await env.call_row(out.uniqueid)
    assert row.disposition == "transferred"
    legs = await env.legs(out.uniqueid)
    assert any(leg.number == "12333" for leg in legs)


async def test_12333_department_busy_caller_comes_back_to_a_12345_queue(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(trunk={"12333": TrunkBehaviour(mode="busy")})
    call = await env.call(dnis="12333", talk_time=2.0)
    out = await env.outcome(call)
    assert any("transfer_failed" in c for c in out.agi_commands)
    assert len(agent_seats(out)) == 1
    await env.settle()
    assert await env.ivr_path(out.uniqueid) == TRANSFER_PATH_12333 + ["main.xfer_failed_12333", "main.q_social"]
    xo = await events_named(env, out.uniqueid, "transfer_outcome")
    # a busy trunk behind a Local channel ends the originate as a hang-up, not as "busy" (as on Asterisk)
    assert xo[0].data["outcome"] in ("busy", "failed")
    qo = await events_named(env, out.uniqueid, "queue_outcome")
    assert qo[0].data["outcome"] == "connected"
    row = await env.call_row(out.uniqueid, ended=False)
    assert row.hotline == "12333"
    assert env.queue_figures("social_security")["today"]["answered"] == 1


async def test_12333_busy_then_answered_call_is_closed_in_the_calls_table(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(trunk={"12333": TrunkBehaviour(mode="busy")})
    call = await env.call(dnis="12333", talk_time=2.0)
    out = await env.outcome(call)
    await env.settle()
    row = await env.call_row(out.uniqueid)
    assert row.disposition == "answered" and row.agent is not None


async def test_12315_interconnection_is_taken_by_12345(e2e: E2E) -> None:
    call = await e2e.call(dnis="12315", talk_time=2.0)
    out = await e2e.outcome(call)
    assert len(agent_seats(out)) == 1
    await e2e.settle()
    row = await e2e.call_row(out.uniqueid)
    assert row.hotline == "12315" and row.disposition == "answered"
    assert await e2e.ivr_path(out.uniqueid) == ["main.entry_12315", "main.set_12315", "main.q_market"]
    sets = await events_named(e2e, out.uniqueid, "set")
    assert sets[0].data == {"department": "市市场监督管理局", "forward_to": "national-12315"}
    assert e2e.queue_figures("market_regulation")["today"]["answered"] == 1


# ---------------------------------------------------------------------------------------------- 4


@pytest.mark.parametrize("key,service", [("1", "110"), ("2", "119"), ("3", "120")])
async def test_emergency_transferred_at_once(e2e_factory: Any, key: str, service: str) -> None:
    env: E2E = await e2e_factory(trunk={service: TrunkBehaviour(mode="answer", answer_after=0.5, talk_time=2.0)})
    tap = VarTap(env)
    call = await env.call(keys=["9", key])
    out = await env.outcome(call)
    # the caller hears the emergency prompt, then is put through to the service: no queue, no agent
    assert out.keys_pressed == ["9", key]
    assert any(f"emergency_{service}" in c for c in out.agi_commands)
    assert not any("hold_music" in c or "queue_wait" in c for c in out.agi_commands)
    trunk = tap.trunk_legs(out.channel)
    assert trunk and trunk[0] in out.bridged_with and not agent_seats(out)
    assert tap.vars[trunk[0]].get("DIALEDPEERNUMBER") == f"trunk/{service}"
    await env.settle()
    path = await env.ivr_path(out.uniqueid)
    assert path[-2:] == ["main.emergency_menu", f"main.em_{service}"]
    assert not await events_named(env, out.uniqueid, "enqueue")
    xo = await events_named(env, out.uniqueid, "transfer")
    assert xo[0].data == {"kind": "emergency", "to": service, "mode": "blind"}
    assert sum(q["today"]["offered"] for q in env.router.wallboard.snapshot()["queues"]) == 0
    row = await env.call_row(out.uniqueid, ended=False)
    assert row.flow_name == "main"


async def test_emergency_call_is_closed_in_the_calls_table(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(trunk={"110": TrunkBehaviour(mode="answer", answer_after=0.5, talk_time=2.0)})
    call = await env.call(keys=["9", "1"])
    out = await env.outcome(call)
    await env.settle()
    row = await env.call_row(out.uniqueid)
    assert row.disposition == "transferred"


# ---------------------------------------------------------------------------------------------- 5


async def test_ring_no_answer_goes_to_next_agent_and_pauses_the_first(e2e_factory: Any) -> None:
    # 8002 has the better policy proficiency so it is offered first; its phone only rings
    env: E2E = await e2e_factory(agents={"8002": AgentBehaviour(mode="ring")}, router={"ring_timeout": 1.5})
    call = await env.call(keys=["1"], talk_time=2.0)
    out = await env.outcome(call, 60)
    seats = agent_seats(out)
    assert len(seats) == 1 and seats[0].startswith("PJSIP/8001-")
    seat = env.seat("8002")
    assert seat.state.value == "paused"
    assert seat.reason == "ring-no-answer"
    await env.settle()
    row = await env.call_row(out.uniqueid)
    assert row.agent == "8001" and row.disposition == "answered"
    assert env.queue_figures("policy")["today"]["answered"] == 1


async def test_caller_hangs_up_while_seat_rings_seat_not_blamed(e2e_factory: Any) -> None:
    # The simulator runs 20x: the seat rings for ring_timeout/20 real seconds. 100 s keeps it
    # ringing (5 s real) well past the caller's hang-up below, so a ring-no-answer cannot be the cause.
    env: E2E = await e2e_factory(login=("8001",), agents={"8001": AgentBehaviour(mode="ring")},
                                 router={"ring_timeout": 100.0})
    call = await env.call(keys=["1"], patience=1000.0)
    await eventually(lambda: env.seat_state("8001") == "ringing", what="8001 ringing")
    await asyncio.sleep(0.3)
    env.sim.hangup(call)
    out = await env.outcome(call)
    assert not out.bridged_with
    await env.settle()
    await asyncio.sleep(0.5)
    assert not [c for c in env.sim.pbx.registry.channels if c.startswith("PJSIP/8001-")]
    seat = env.seat("8001")
    assert seat.state.value == "available", (seat.state.value, seat.reason)


# ---------------------------------------------------------------------------------------------- 6


async def _abandon(env: E2E) -> Any:
    busy = await env.call(keys=["1"], talk_time=60.0)
    await eventually(lambda: env.seat_state("8001") == "on_call", what="8001 busy")
    call = await env.call(keys=["1"], patience=20.0)
    out = await env.outcome(call)
    env.sim.hangup(busy)
    await env.settle()
    return out


async def test_caller_abandons_while_waiting(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(login=("8001",))
    out = await _abandon(env)
    assert out.hung_up_by == "caller" and not out.bridged_with
    assert any("hold_music" in c or "queue_wait" in c for c in out.agi_commands)
    row = await env.call_row(out.uniqueid)
    assert row.agent is None and row.ended_at is not None
    assert await env.ivr_path(out.uniqueid) == [
        "main.welcome", "main.hours_check", "main.main_menu", "main.set_consult", "main.q_policy"]
    hang = await events_named(env, out.uniqueid, "hangup")
    assert hang and hang[-1].data == {"by": "caller"}
    assert not await events_named(env, out.uniqueid, "queue_outcome")
    q = env.queue_figures("policy")["today"]
    assert q["offered"] == 2 and q["abandoned"] == 1 and q["answered"] == 1
    assert q["abandon_rate"] == 0.5 and q["answer_rate"] == 0.5


async def test_abandoned_call_has_disposition_abandoned(e2e_factory: Any) -> None:
    env: E2E = await e2e_factory(login=("8001",))
    out = await _abandon(env)
    row = await env.call_row(out.uniqueid)
    assert row.disposition == "abandoned"


# ---------------------------------------------------------------------------------------------- 7


def quick_offer_flows(tmp: Path) -> Path:
    """The default flows with the general queue's call-back offer after 1 s instead of 90 s."""
    out = tmp / "flows"
    out.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "flows").iterdir():
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            if f.name == "main.yaml":
                text = text.replace("callback_offer: {after: 90s,", "callback_offer: {after: 1s,")
                assert "after: 1s" in text
            (out / f.name).write_text(text, encoding="utf-8")
    return out


async def test_callback_offer_accepted_then_citizen_rung_back_and_connected(e2e_factory: Any, tmp_path: Path) -> None:
    number = "13912345678"
    env: E2E = await e2e_factory(
        login=("8001",), flows_dir=quick_offer_flows(tmp_path),
        trunk={number: TrunkBehaviour(mode="answer", answer_after=1.0, talk_time=3.0)},
    )
    tap = VarTap(env)
    busy = await env.call(keys=["0"], talk_time=400.0)
    await eventually(lambda: env.seat_state("8001") == "on_call", what="8001 busy")
    # presses 0 for an agent, then 1 at the call-back offer; the IVR says goodbye and hangs up
    call = await env.call(keys=["0", "1"], caller_num=number)
    out = await env.outcome(call)
    assert not out.bridged_with
    assert any("callback_offer" in c for c in out.agi_commands)
    assert any("callback_done" in c for c in out.agi_commands)
    assert out.agi_commands[-1] == "HANGUP"
    await eventually(lambda: env.queue_figures("general")["callbacks_pending"] == 1, what="call-back kept in queue")
    cbs = await env.callbacks()
    assert len(cbs) == 1 and cbs[0].number == number and cbs[0].status in ("pending", "dialling")

    env.sim.hangup(busy)  # the agent frees up: the router rings the citizen back through the trunk
    await eventually(lambda: _callback_done(env), timeout=30, what="call-back completed")
    cbs = await env.callbacks()
    assert cbs[0].status == "done" and cbs[0].attempts == 1
    assert cbs[0].outcome and "answered" in cbs[0].outcome
    # inside the PBX: a trunk leg dialled to the citizen's number, bridged with seat 8001
    legs = [c for c, vs in tap.vars.items() if vs.get("DIALEDPEERNUMBER") == f"trunk/{number}"]
    assert legs, "the citizen was not rung back through the trunk"
    await eventually(lambda: tap.bridged(f"Local/{number}@hotline-outbound-", "PJSIP/8001-"),
                     what="the rung-back citizen bridged with 8001")
    await env.settle()
    row = await env.call_row(out.uniqueid)
    assert row.disposition in ("callback", "ivr")
    # the call-back's legs (the citizen rung back, the agent who took it) join the citizen's call:
    # two citizens' calls, two rows
    rows = await env.rows(Call)
    assert sorted(r.id for r in rows) == sorted([busy.channel.uniqueid, out.uniqueid]), [(r.id, r.caller_number) for r in rows]
    legs = await env.rows(CallLeg)
    assert {leg.call_id for leg in legs} == {busy.channel.uniqueid, out.uniqueid}
    assert any(leg.channel.startswith(f"Local/{number}@hotline-outbound") for leg in legs if leg.call_id == out.uniqueid)
    assert row.agent == "8001"
    offer = await events_named(env, out.uniqueid, "callback_offer")
    assert offer and offer[0].data["digits"] == "1"
    qo = await events_named(env, out.uniqueid, "queue_outcome")
    assert qo[0].data["outcome"] == "callback"
    q = env.queue_figures("general")["today"]
    assert q["callbacks"] == 1 and q["answered"] == 2
    assert env.queue_figures("general")["callbacks_pending"] == 0


async def _callback_done(env: E2E) -> bool:
    cbs = await env.callbacks()
    return bool(cbs) and cbs[0].status in ("done", "failed")
