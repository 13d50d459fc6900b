from sqlalchemy import select

from hotline.storage import models as m
from router.callbacks import CallbackDesk, CallbackRequest, CallbackStatus
from router.engine import Engine
from router.models import AgentState, AgentStateChanged, CallState
from router.repository import (
    SqlCallbackRepository,
    SqlStateSink,
    load_agent_records,
    load_routing_config,
)
from router.wallboard import IntervalRow

from tests.router.helpers import FakeClock


async def seed(db):
    async with db.session() as s:
        centre = m.Site(name="centre")
        east = m.Site(name="east")
        s.add_all([centre, east])
        await s.flush()
        g1 = m.Group(name="g1", site_id=centre.id)
        ge = m.Group(name="ge", site_id=east.id)
        s.add_all([g1, ge])
        sk = m.Skill(name="general")
        s.add(sk)
        await s.flush()
        a1 = m.Agent(extension="8001", name="张三", site_id=centre.id, group_id=g1.id)
        a2 = m.Agent(extension="8002", name="李四", site_id=east.id, group_id=ge.id, state="break")
        s.add_all([a1, a2])
        await s.flush()
        s.add_all([m.AgentSkill(agent_id=a1.id, skill_id=sk.id, proficiency=8),
                   m.AgentSkill(agent_id=a2.id, skill_id=sk.id, proficiency=4)])
        s.add(m.AgentStateEvent(agent_id=a2.id, state="break", reason="training"))
        s.add(m.Queue(name="general", skill_id=sk.id, wrapup_seconds=15, service_level_seconds=20,
                      priority_classes=[{"name": "enterprise", "rank": 0}, {"name": "normal", "rank": 5}],
                      overflow={"targets": [{"after": 0, "groups": ["g1"]}, {"after": 45, "all_sites": True}],
                                "overflow": [{"ewt_above": 90, "sites": ["east"], "name": "east"}],
                                "surge": {"enter_ewt": 200, "exit_ewt": 60, "wrapup": 3},
                                "site_caps": {"east": 5}, "max_wait": 600, "exit_destination": "12333"}))
        await s.commit()
        return a1.id, a2.id


async def test_load_routing_config(sqlite_db):
    a1, a2 = await seed(sqlite_db)
    async with sqlite_db.session() as s:
        cfg = await load_routing_config(s)
        recs = await load_agent_records(s)
    (q,) = cfg.queues
    assert q.skill == "general" and q.wrapup == 15 and q.targets[1].all_sites and q.targets[1].after == 45
    assert q.overflow[0].sites == ("east",) and q.surge.wrapup == 3 and q.site_caps == {"east": 5}
    assert [c.name for c in q.classes] == ["enterprise", "normal"] and q.max_wait == 600
    agents = {a.seat: a for a in cfg.agents}
    assert agents["8001"].skills == {"general": 8} and agents["8002"].site_id == "east"
    rec = {r.agent_id: r for r in recs}
    assert rec[str(a2)].state is AgentState.PAUSED and rec[str(a2)].reason == "training"
    assert rec[str(a1)].state is AgentState.LOGGED_OUT
    eng = Engine(cfg, FakeClock())
    eng.login(str(a1))
    _, acts = eng.enqueue("c1", "general")
    assert acts[0].seat == "8001"


async def test_callbacks_persist_and_reload(sqlite_db):
    await seed(sqlite_db)
    async with sqlite_db.session() as s:
        cfg = await load_routing_config(s)
    clock = FakeClock()
    repo = SqlCallbackRepository(sqlite_db, cfg)
    eng = Engine(cfg, clock)
    eng.enqueue("c1", "general", "enterprise")
    desk = CallbackDesk(eng, repo, clock)
    cb = await desk.accept("c1", "13800000001")
    await desk.dialling("c1")
    await desk.result("c1", "no_answer")
    # restart
    eng2 = Engine(cfg, clock)
    desk2 = CallbackDesk(eng2, SqlCallbackRepository(sqlite_db, cfg), clock)
    items = await desk2.restore_items()
    eng2.restore(items)
    call = eng2.calls["c1"]
    assert call.state is CallState.CALLBACK and call.priority == "enterprise" and call.caller == "13800000001"
    assert call.enqueued_at == clock.now and call.attempts == 1
    (open_cb,) = await SqlCallbackRepository(sqlite_db, cfg).open()
    assert open_cb.outcomes == ["no_answer"] and open_cb.status is CallbackStatus.PENDING


async def test_state_sink_writes_events_and_intervals(sqlite_db):
    a1, _ = await seed(sqlite_db)
    sink = SqlStateSink(sqlite_db)
    sink.record(AgentStateChanged(str(a1), AgentState.LOGGED_OUT, AgentState.AVAILABLE, "logged in", 1_700_000_000.0))
    sink.record(AgentStateChanged(str(a1), AgentState.AVAILABLE, AgentState.PAUSED, "lunch", 1_700_000_010.0))
    sink.intervals([IntervalRow(1_699_999_200.0, "queue", "general", 10, 8, 2, 7, 80.0, 1900.0, 30.0)])
    sink.intervals([IntervalRow(1_699_999_200.0, "queue", "general", 11, 9, 2, 8, 90.0, 2000.0, 30.0)])
    await sink.flush()
    async with sqlite_db.session() as s:
        agent = await s.get(m.Agent, a1)
        assert agent.state == "break"
        evs = (await s.execute(select(m.AgentStateEvent).where(m.AgentStateEvent.agent_id == a1))).scalars().all()
        assert [e.reason for e in evs] == ["logged in", "lunch"]
        (row,) = (await s.execute(select(m.IntervalStat))).scalars().all()
        assert (row.offered, row.answered_within_sl) == (11, 8)
