from router.callbacks import CallbackDesk, CallbackPolicy, CallbackStatus, MemoryCallbackRepository
from router.models import CallState, Decision, DialCallback

from tests.router.helpers import FakeClock, agent, make_engine, standard_queue


def setup(clock=None, repo=None, **qkw):
    eng, clock, rec = make_engine([agent("a1")], [standard_queue(wrapup=0, callback_offer_wait=60, **qkw)],
                                  clock=clock, default_aht=120, callback_lead=20)
    repo = repo or MemoryCallbackRepository()
    return eng, clock, CallbackDesk(eng, repo, clock, CallbackPolicy(max_attempts=2, retry_after=60)), repo


async def test_accept_keeps_place_and_dials_when_agent_about_to_be_free():
    eng, clock, desk, repo = setup()
    eng.login("a1")
    eng.enqueue("busy", "general")
    eng.connected("busy")
    eng.enqueue("c1", "general")
    eng.enqueue("c2", "general")
    assert desk.should_offer("c2")  # position 2 x 120 s / 1 agent >= 60 s
    cb = await desk.accept("c1", "13800000001")
    assert repo.rows[cb.id].status is CallbackStatus.PENDING
    assert eng.calls["c1"].state is CallState.CALLBACK
    assert eng.position("c2") == 2  # c1 keeps its place ahead of c2
    clock.tick(1)
    assert [a for a in eng.advance() if isinstance(a, DialCallback)] == []  # EWT 120 s > 20 s lead
    # the agent frees: nobody is ahead of the call-back, an agent is free -> c2 takes the agent
    acts = eng.call_ended("busy")
    assert [(a.call_id, a.agent_id) for a in acts if isinstance(a, Decision)] == [("c2", "a1")]
    eng.connected("c2")
    eng.call_ended("c2")  # a1 free again, nobody in the hold
    dials = [a for a in eng.advance() if isinstance(a, DialCallback)]
    assert [(d.call_id, d.number) for d in dials] == [("c1", "13800000001")]
    await desk.dialling("c1")
    assert repo.rows[cb.id].status is CallbackStatus.DIALLING
    acts = await desk.result("c1", "answered", channel="PJSIP/trunk-0001")
    assert [(a.call_id, a.agent_id) for a in acts if isinstance(a, Decision)] == [("c1", "a1")]
    assert repo.rows[cb.id].status is CallbackStatus.DONE and repo.rows[cb.id].outcomes == ["answered"]


async def test_callback_place_is_ahead_of_later_callers():
    eng, clock, desk, repo = setup()
    eng.enqueue("c1", "general")
    clock.tick(1)
    eng.enqueue("c2", "general")
    await desk.accept("c1", "138")
    eng.login("a1")  # takes c2 (c1's caller is not on the line)
    dials = [a for a in eng.advance() if isinstance(a, DialCallback)]
    assert dials == []  # no free agent now and c1 still ahead of nobody but EWT 120 s
    eng.callback_answered("c1", "PJSIP/trunk-1")
    clock.tick(1)
    eng.enqueue("c3", "general")
    assert eng.position("c1") == 1 and eng.position("c3") == 2


async def test_no_answer_retries_then_fails_with_outcomes():
    eng, clock, desk, repo = setup()
    eng.enqueue("c1", "general")
    cb = await desk.accept("c1", "138")
    eng.login("a1")
    (d,) = [a for a in eng.advance() if isinstance(a, DialCallback)]
    await desk.dialling("c1")
    await desk.result("c1", "no_answer")
    assert repo.rows[cb.id].status is CallbackStatus.PENDING
    assert [a for a in eng.advance() if isinstance(a, DialCallback)] == []  # retry later
    clock.tick(60)
    (d,) = [a for a in eng.advance() if isinstance(a, DialCallback)]
    await desk.dialling("c1")
    await desk.result("c1", "busy")
    row = repo.rows[cb.id]
    assert row.status is CallbackStatus.FAILED and row.outcomes == ["no_answer", "busy"] and row.attempts == 2
    assert "c1" not in eng.calls


async def test_callbacks_survive_a_restart():
    clock = FakeClock()
    eng, clock, desk, repo = setup(clock)
    eng.enqueue("c1", "general")
    clock.tick(5)
    eng.enqueue("c2", "general")
    cb1 = await desk.accept("c1", "138")
    cb2 = await desk.accept("c2", "139")
    eng.login("a1")
    eng.advance()
    await desk.dialling("c1")  # the server stops while dialling c1
    # --- restart: a new engine and desk on the same repository
    clock.tick(30)
    eng2, _, desk2, _ = setup(clock, repo)
    eng2.restore(await desk2.restore_items())
    assert repo.rows[cb1.id].status is CallbackStatus.PENDING
    assert eng2.calls["c1"].state is CallState.CALLBACK and eng2.calls["c2"].state is CallState.CALLBACK
    eng2.enqueue("c3", "general")
    assert eng2.position("c1") == 1 and eng2.position("c2") == 2 and eng2.position("c3") == 3
    eng2.login("a1")  # takes c3, the only caller on the line
    # both call-backs are still scheduled
    assert {c.call_id for c in (await repo.open())} == {"c1", "c2"}
