from router.engine import RestoredCall, RoutingError
from router.models import (
    AgentState,
    CallAbandoned,
    CallState,
    Decision,
    ExitDecision,
    OverflowRule,
    QueueModeChanged,
    Strategy,
    SurgePolicy,
    Target,
)

import pytest

from tests.router.helpers import agent, make_engine, standard_queue

S = AgentState


def offers(actions):
    return [(a.call_id, a.agent_id) for a in actions if isinstance(a, Decision)]


def test_new_call_goes_to_best_proficiency_then_longest_idle():
    eng, clock, _ = make_engine([agent("a1", prof=5), agent("a2", prof=8), agent("a3", prof=8)])
    eng.login("a3")
    clock.tick(1)
    eng.login("a2")
    eng.login("a1")
    _, acts = eng.enqueue("c1", "general")
    assert offers(acts) == [("c1", "a3")]  # proficiency 8, idle longer than a2
    assert "proficiency 8" in acts[0].reason and "target 1 (home group)" in acts[0].reason
    _, acts = eng.enqueue("c2", "general")
    assert offers(acts) == [("c2", "a2")]
    _, acts = eng.enqueue("c3", "general")
    assert offers(acts) == [("c3", "a1")]


def test_longest_idle_strategy_ignores_proficiency():
    q = standard_queue(strategy=Strategy.LONGEST_IDLE)
    eng, clock, _ = make_engine([agent("a1", prof=2), agent("a2", prof=9)], [q])
    eng.login("a1")
    clock.tick(5)
    eng.login("a2")
    _, acts = eng.enqueue("c1", "general")
    assert offers(acts) == [("c1", "a1")]


def test_priority_classes_then_fifo_when_agent_frees():
    eng, clock, _ = make_engine([agent("a1")])
    eng.login("a1")
    eng.pause("a1", "meeting")
    for cid, pr in [("n1", "normal"), ("n2", "normal"), ("r1", "repeat"), ("e1", "enterprise"), ("e2", "enterprise")]:
        eng.enqueue(cid, "general", pr)
        clock.tick(1)
    assert eng.position("e1") == 1 and eng.position("e2") == 2 and eng.position("r1") == 3 and eng.position("n2") == 5
    order = []
    for _ in range(5):
        acts = eng.unpause("a1") if eng.seats.get("a1").state is S.PAUSED else eng.advance()
        (cid, _aid), = offers(acts)
        order.append(cid)
        eng.connected(cid)
        eng.call_ended(cid)
        clock.tick(10)  # wrap-up over
    assert order == ["e1", "e2", "r1", "n1", "n2"]
    assert eng.check_invariants() == []


def test_targets_widen_with_wait():
    eng, clock, _ = make_engine([agent("home", group="g1"), agent("near", group="g2"), agent("far", group="ge")])
    eng.login("near")
    eng.login("far")
    _, acts = eng.enqueue("c1", "general")
    assert acts == []  # nobody of the home group is free
    clock.tick(29)
    assert eng.advance() == []
    clock.tick(1)
    acts = eng.advance()
    assert offers(acts) == [("c1", "near")]
    assert "target 2 (centre)" in acts[0].reason
    _, acts = eng.enqueue("c2", "general")
    clock.tick(59)
    assert eng.advance() == []
    clock.tick(1)
    assert offers(eng.advance()) == [("c2", "far")]


def test_freed_agent_outside_ring_waits_until_call_widens():
    eng, clock, _ = make_engine([agent("far", group="ge")])
    eng.enqueue("c1", "general")
    clock.tick(10)
    assert eng.login("far") == []  # c1 has waited 10 s, far is in the 60 s ring
    clock.tick(50)
    assert offers(eng.advance()) == [("c1", "far")]


def test_rona_puts_call_back_at_head_and_agent_not_ready():
    eng, clock, rec = make_engine([agent("a1"), agent("a2")])
    eng.login("a1")
    eng.enqueue("c1", "general")  # to a1
    eng.enqueue("c2", "general")  # waits
    clock.tick(15)
    acts = eng.ring_failed("c1")
    assert eng.seats.get("a1").state is S.PAUSED and eng.seats.get("a1").reason == "ring-no-answer"
    assert acts == [] and eng.position("c1") == 1 and eng.position("c2") == 2
    acts = eng.login("a2")
    assert offers(acts) == [("c1", "a2")]
    assert eng.check_invariants() == []


def test_caller_hangs_up_while_ringing_frees_agent_for_next_call():
    eng, clock, rec = make_engine([agent("a1")])
    eng.login("a1")
    eng.enqueue("c1", "general")
    eng.enqueue("c2", "general")
    clock.tick(3)
    acts = eng.abandon("c1")
    assert offers(acts) == [("c2", "a1")]
    ab = rec.of(CallAbandoned)
    assert ab[0].while_ringing and ab[0].call_id == "c1"
    assert eng.check_invariants() == []


def test_abandon_while_waiting_is_recorded():
    eng, clock, rec = make_engine([agent("a1")])
    eng.enqueue("c1", "general")
    clock.tick(42)
    eng.abandon("c1")
    (ab,) = rec.of(CallAbandoned)
    assert ab.wait == 42 and not ab.while_ringing
    assert "c1" not in eng.calls


def test_wrapup_then_available_and_pending_pause():
    eng, clock, _ = make_engine([agent("a1")], [standard_queue(wrapup=20)])
    eng.login("a1")
    eng.enqueue("c1", "general")
    eng.connected("c1")
    eng.pause("a1", "lunch")  # deferred while on call
    assert eng.seats.get("a1").state is S.ON_CALL
    eng.call_ended("c1")
    assert eng.seats.get("a1").state is S.WRAP_UP
    clock.tick(20)
    eng.advance()
    seat = eng.seats.get("a1")
    assert seat.state is S.PAUSED and seat.reason == "lunch"


def test_wrapup_timer_hands_next_call():
    eng, clock, _ = make_engine([agent("a1")], [standard_queue(wrapup=20)])
    eng.login("a1")
    eng.enqueue("c1", "general")
    eng.connected("c1")
    eng.enqueue("c2", "general")
    eng.call_ended("c1")
    clock.tick(19)
    assert eng.advance() == []
    clock.tick(1)
    assert offers(eng.advance()) == [("c2", "a1")]


def test_overflow_rule_opens_backup_site_with_reason():
    q = standard_queue(
        targets=(Target(0, groups=("g1",)),),
        overflow=(OverflowRule(ewt_above=60, sites=("east",), name="east sub-centre"),),
    )
    eng, clock, rec = make_engine([agent("h1"), agent("e1", group="ge")], [q], default_aht=120)
    eng.login("h1")
    eng.login("e1")
    eng.enqueue("c0", "general")  # to h1, busy now
    eng.connected("c0")
    _, acts = eng.enqueue("c1", "general")  # EWT 1*120/1 = 120 >= 60: overflow
    (mode,) = rec.of(QueueModeChanged)
    assert mode.active and "overflow to east sub-centre" in mode.reason and "120s" in mode.reason
    assert offers(acts) == [("c1", "e1")]
    assert "overflow to east sub-centre" in acts[0].reason


def test_surge_mode_opens_all_targets_and_shortens_wrapup():
    q = standard_queue(surge=SurgePolicy(enter_ewt=100, exit_ewt=20, wrapup=2), wrapup=30)
    eng, clock, rec = make_engine([agent("h1"), agent("far", group="gw")], [q], default_aht=200)
    eng.login("h1")
    eng.login("far")
    eng.enqueue("c0", "general")
    eng.connected("c0")
    _, acts = eng.enqueue("c1", "general")
    assert eng.queues["general"].surge
    assert offers(acts) == [("c1", "far")]
    assert "surge" in acts[0].reason
    eng.connected("c1")
    eng.call_ended("c1")
    assert eng.seats.get("far").wrapup_until == clock.now + 2


def test_site_cap_limits_calls_held_by_a_site():
    q = standard_queue(targets=(Target(0, all_sites=True),), site_caps={"east": 1})
    eng, clock, _ = make_engine([agent("e1", group="ge"), agent("e2", group="ge")], [q])
    eng.login("e1")
    eng.login("e2")
    _, a1 = eng.enqueue("c1", "general")
    _, a2 = eng.enqueue("c2", "general")
    assert offers(a1) == [("c1", "e1")] and a2 == []
    eng.connected("c1")
    acts = eng.call_ended("c1")  # a slot of the east site frees: c2 goes to e2
    assert offers(acts) == [("c2", "e2")]
    assert eng.check_invariants() == []


def test_max_wait_exit():
    q = standard_queue(max_wait=300, exit_destination="12333")
    eng, clock, _ = make_engine([agent("a1")], [q])
    eng.enqueue("c1", "general")
    clock.tick(300)
    acts = eng.advance()
    assert [type(a) for a in acts] == [ExitDecision] and acts[0].destination == "12333"


def test_logout_during_call_is_deferred():
    eng, clock, _ = make_engine([agent("a1")], [standard_queue(wrapup=0)])
    eng.login("a1")
    eng.enqueue("c1", "general")
    eng.logout("a1")
    assert eng.seats.get("a1").state is S.RINGING
    eng.connected("c1")
    eng.call_ended("c1")
    assert eng.seats.get("a1").state is S.LOGGED_OUT


def test_invalid_transitions_raise():
    eng, clock, _ = make_engine([agent("a1")])
    with pytest.raises(RoutingError):
        eng.unpause("a1")
    with pytest.raises(RoutingError):
        eng.pause("a1", "")
    with pytest.raises(RoutingError):
        eng.connected("nope")


def test_restore_keeps_order_and_callbacks():
    eng, clock, _ = make_engine([agent("a1")])
    t = clock.now
    eng.restore([
        RestoredCall("late", "general", "normal", t - 10, channel="SIP/x-2"),
        RestoredCall("early", "general", "normal", t - 50, channel="SIP/x-1"),
        RestoredCall("cb", "general", "normal", t - 30, callback_number="13800000000"),
    ])
    _, acts = eng.enqueue("new", "general")
    # the call-back keeps its place between the two callers still on the line
    assert eng.position("early") == 1 and eng.position("cb") == 2
    assert eng.position("late") == 3 and eng.position("new") == 4
    assert eng.calls["cb"].state is CallState.CALLBACK
    assert offers(eng.login("a1")) == [("early", "a1")]
