import asyncio

from ivr.ports import CallInfo, QueueOutcomeKind, QueueRequest

from router.callbacks import CallbackDesk, CallbackPolicy, MemoryCallbackRepository
from router.engine import Engine
from router.models import AgentState, CallState, RoutingConfig
from router.service import AgentRecord, LiveLeg, RingResult, RouterService, plan_recovery
from router.wallboard import Wallboard

from tests.router.helpers import GROUPS, SITES, FakeClock, agent, standard_queue

S = AgentState


class FakeConnector:
    def __init__(self):
        self.script: dict[str, list[str]] = {}  # seat -> outcomes in order (default answered)
        self.gates: dict[str, asyncio.Event] = {}  # seat -> ring until set
        self.bridge_ok = True
        self.rung: list[tuple[str, str]] = []
        self.bridged: list[tuple[str, str]] = []
        self.hung: list[str] = []
        self.marks: list[tuple[str, str]] = []
        self.citizen: list[str] = []
        self.citizen_outcome = "answered"
        self.n = 0

    async def ring_agent(self, seat, call_id, caller, timeout):
        self.rung.append((seat, call_id))
        gate = self.gates.get(seat)
        if gate is not None:
            await gate.wait()
        outs = self.script.get(seat)
        out = outs.pop(0) if outs else "answered"
        self.n += 1
        return RingResult(out, f"PJSIP/{seat}-{self.n:08x}" if out == "answered" else "")

    async def ring_citizen(self, number, call_id, timeout):
        self.citizen.append(number)
        self.n += 1
        return RingResult(self.citizen_outcome, f"Local/{number}@hotline-outbound-{self.n}" if self.citizen_outcome == "answered" else "")

    async def bridge(self, a, b):
        await asyncio.sleep(0)
        self.bridged.append((a, b))
        return self.bridge_ok

    async def hangup(self, channel):
        self.hung.append(channel)

    async def mark(self, channel, queue, priority, enqueued_at, state):
        self.marks.append((channel, state))


def build(agents=None, clock=None, repo=None, **qkw):
    clock = clock or FakeClock()
    holder = {}
    cfg = RoutingConfig(SITES, GROUPS, tuple(agents or [agent("a1"), agent("a2")]),
                        (standard_queue(wrapup=5, callback_offer_wait=60, **qkw),))
    eng = Engine(cfg, clock, listener=lambda ev: holder["svc"].on_event(ev), default_aht=120)
    conn = FakeConnector()
    desk = CallbackDesk(eng, repo or MemoryCallbackRepository(), clock, CallbackPolicy())
    svc = RouterService(eng, conn, desk, Wallboard(eng, clock), clock)
    holder["svc"] = svc
    return svc, eng, conn, clock


def req(call_id, priority=5, skill="general"):
    return QueueRequest(CallInfo(call_id, f"PJSIP/trunk-{call_id}", "13900000000", "12345"), skill, priority, None, True)


async def test_connects_caller_to_agent():
    svc, eng, conn, clock = build()
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await svc.wait_idle()
    out = h.outcome.result()
    assert out.kind is QueueOutcomeKind.CONNECTED and out.agent == "8001"
    assert conn.bridged == [("PJSIP/trunk-c1", "PJSIP/8001-00000001")]
    assert ("PJSIP/trunk-c1", "waiting") in conn.marks and ("PJSIP/trunk-c1", "connected") in conn.marks
    assert eng.seats.get("a1").state is S.ON_CALL
    # the agent hangs up: wrap-up; the caller goes on in the dialplan (survey)
    await svc.leg_hungup("PJSIP/8001-00000001")
    assert eng.seats.get("a1").state is S.WRAP_UP
    assert eng.check_invariants() == []


async def test_ring_no_answer_goes_to_next_agent():
    svc, eng, conn, clock = build()
    conn.script["8001"] = ["no_answer"]
    svc.login("a1")
    clock.tick(1)
    svc.login("a2")
    h = await svc.enqueue(req("c1"))
    await svc.wait_idle()
    assert [s for s, _ in conn.rung] == ["8001", "8002"]
    assert h.outcome.result().agent == "8002"
    a1 = eng.seats.get("a1")
    assert a1.state is S.PAUSED and a1.reason == "ring-no-answer"
    assert eng.check_invariants() == []


async def test_caller_hangs_up_while_agent_rings():
    svc, eng, conn, clock = build()
    conn.gates["8001"] = asyncio.Event()
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await asyncio.sleep(0)
    assert eng.seats.get("a1").state is S.RINGING
    await svc.leg_hungup("PJSIP/trunk-c1")
    assert h.outcome.result().kind is QueueOutcomeKind.HANGUP
    assert eng.seats.get("a1").state is S.AVAILABLE
    conn.gates["8001"].set()  # the agent answers a call that is gone
    await svc.wait_idle()
    assert conn.hung == ["PJSIP/8001-00000001"] and conn.bridged == []
    assert eng.seats.get("a1").state is S.AVAILABLE
    # the next caller gets the agent
    h2 = await svc.enqueue(req("c2"))
    await svc.wait_idle()
    assert h2.outcome.result().kind is QueueOutcomeKind.CONNECTED
    assert eng.check_invariants() == []


async def test_caller_gone_during_bridge():
    svc, eng, conn, clock = build()
    conn.bridge_ok = False
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await svc.wait_idle()
    assert h.outcome.result().kind is QueueOutcomeKind.HANGUP
    assert conn.hung == ["PJSIP/8001-00000001"]
    assert eng.seats.get("a1").state is S.AVAILABLE
    assert "c1" not in eng.calls


async def test_caller_hangs_up_after_bridge_hangs_up_agent_leg():
    svc, eng, conn, clock = build()
    svc.login("a1")
    await svc.enqueue(req("c1"))
    await svc.wait_idle()
    await svc.leg_hungup("PJSIP/trunk-c1")
    assert conn.hung == ["PJSIP/8001-00000001"]
    assert eng.seats.get("a1").state is S.WRAP_UP


async def test_priority_mapping_from_ivr():
    svc, eng, conn, clock = build()
    assert svc.lane_for("general", 0) == "enterprise"
    assert svc.lane_for("general", 1) == "enterprise"  # flows/main.yaml queues 政企直通车 at priority 1
    assert svc.lane_for("general", 2) == "repeat"
    assert svc.lane_for("general", 4) == "repeat"
    assert svc.lane_for("general", 5) == "normal"
    assert svc.lane_for("general", 9) == "normal"


async def test_callback_via_handle_then_rung_back_and_connected():
    svc, eng, conn, clock = build(agents=[agent("a1")])
    svc.login("a1")
    await svc.enqueue(req("busy"))
    await svc.wait_idle()
    h = await svc.enqueue(req("c1"))
    assert h.position() == 1 and h.estimated_wait() == 120.0 and h.offer_callback()
    await h.accept_callback("13800000001")
    out = h.outcome.result()
    assert out.kind is QueueOutcomeKind.CALLBACK and out.callback_id
    await svc.leg_hungup("PJSIP/trunk-c1")  # the caller hangs up as told: not an abandon
    assert eng.calls["c1"].state is CallState.CALLBACK
    await svc.leg_hungup("PJSIP/8001-00000001")  # first call over
    clock.tick(5)
    svc.tick()  # wrap-up over: agent free, nobody on the line -> ring the citizen back
    await svc.wait_idle()
    assert conn.citizen == ["13800000001"]
    assert conn.bridged[-1][0].startswith("Local/13800000001")
    assert eng.seats.get("a1").state is S.ON_CALL
    assert eng.check_invariants() == []


async def test_recovery_rebuilds_queues_without_losing_or_doubling():
    svc, eng, conn, clock = build(agents=[agent("a1"), agent("a2"), agent("a3")])
    t = clock.now
    legs = [
        LiveLeg("PJSIP/trunk-w1", "w1", "caller", queue="general", priority="normal", enqueued_at=t - 40, state="waiting"),
        LiveLeg("PJSIP/trunk-w2", "w2", "caller", queue="general", priority="normal", enqueued_at=t - 90, state="waiting"),
        # a2 was ringing for w2 when the server stopped: the leg is not bridged
        LiveLeg("PJSIP/8002-0001", "w2", "agent", seat="8002", for_call="w2"),
        # a1 is talking to t1
        LiveLeg("PJSIP/trunk-t1", "t1", "caller", queue="general", priority="normal", enqueued_at=t - 300, state="connected",
                bridged_with="PJSIP/8001-0001"),
        LiveLeg("PJSIP/8001-0001", "t1", "agent", seat="8001", for_call="t1", bridged_with="PJSIP/trunk-t1"),
        LiveLeg("PJSIP/other", "x", "other"),
    ]
    agents = [AgentRecord("a1", S.ON_CALL), AgentRecord("a2", S.RINGING), AgentRecord("a3", S.PAUSED, "meeting")]
    plan = plan_recovery(eng, legs, agents)
    assert plan.hang_up == ["PJSIP/8002-0001"]
    rep = await svc.recover(legs, agents)
    await svc.wait_idle()
    assert (rep.waiting, rep.connected, rep.legs_hung_up) == (2, 1, 1)
    assert conn.hung == ["PJSIP/8002-0001"]
    assert eng.seats.get("a1").state is S.ON_CALL and eng.seats.get("a1").call_id == "t1"
    assert eng.seats.get("a3").state is S.PAUSED and eng.seats.get("a3").reason == "meeting"
    # a2 was free again and took the longest waiting caller, w2; w1 still waits
    assert eng.calls["w2"].agent_id == "a2" and eng.calls["w1"].state is CallState.WAITING
    assert eng.check_invariants() == []
    # the IVR re-attaches to w1 and the caller later gets an agent
    h = svc.attach_handle("w1")
    await svc.leg_hungup("PJSIP/8001-0001")  # a1's call ends
    clock.tick(5)
    svc.tick()
    await svc.wait_idle()
    assert h.outcome.result().kind is QueueOutcomeKind.CONNECTED


async def test_router_service_is_the_ivr_queue_port():
    from ivr.ports import QueuePort

    svc, *_ = build()
    assert isinstance(svc, QueuePort)


async def test_survey_caller_after_agent_left_is_not_requeued():
    svc, eng, conn, clock = build()
    legs = [LiveLeg("PJSIP/trunk-s1", "s1", "caller", queue="general", priority="normal",
                    enqueued_at=clock.now - 100, state="connected")]
    plan = plan_recovery(eng, legs, [])
    assert plan.waiting == [] and plan.connected == [] and plan.hang_up == []


async def test_build_router_from_database(sqlite_db):
    from hotline.bus import LocalBus
    from hotline.settings import Settings
    from router.wiring import build_router
    from tests.router.test_repository import seed

    a1, _ = await seed(sqlite_db)
    bus = LocalBus()
    parts = await build_router(Settings(), sqlite_db, FakeConnector(), bus=bus)
    await parts.start()
    try:
        rep = await parts.recover([])
        assert rep.agents == 1  # the paused agent from the database
        svc = parts.service
        svc.login(str(a1))
        h = await svc.enqueue(req("c1"))
        await svc.wait_idle()
        assert h.outcome.result().agent == "8001"
    finally:
        await parts.stop()
        await bus.close()


async def test_call_control_error_requeues_without_blaming_the_agent():
    svc, eng, conn, clock = build(agents=[agent("a1")])
    svc.opt.retry_after_error = 0.0
    calls = {"n": 0}
    orig = conn.ring_agent

    async def flaky(seat, call_id, caller, timeout):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("AMI link down")
        return await orig(seat, call_id, caller, timeout)

    conn.ring_agent = flaky
    svc.login("a1")
    h = await svc.enqueue(req("c1"))
    await svc.wait_idle()
    assert calls["n"] == 2 and h.outcome.result().kind is QueueOutcomeKind.CONNECTED
    assert svc.errors == 1 and eng.check_invariants() == []


async def test_request_callback_outside_a_wait_takes_the_last_place():
    svc, eng, conn, clock = build(agents=[agent("a1")])
    svc.login("a1")  # a free agent must not be reserved for a caller who is not on the line
    await svc.enqueue(req("w1"))
    await svc.wait_idle()
    cid = await svc.request_callback(CallInfo("x1", "PJSIP/trunk-x1", "139", "12345"), "general", "13700000000")
    assert cid and eng.calls["x1"].state is CallState.CALLBACK
    assert svc.callbacks.repo.rows[cid].status.value == "pending"
    assert eng.seats.get("a1").state is S.ON_CALL and eng.check_invariants() == []
    h2 = await svc.enqueue(req("w2"))
    assert eng.position("x1") == 1 and h2.position() == 2
