import math

from router.estimate import HandleTimes, ewt

from tests.router.helpers import agent, make_engine, standard_queue


def test_ewt_formula():
    assert ewt(1, 240, 10) == 24.0
    assert ewt(5, 240, 10) == 120.0
    assert ewt(3, 240, 10, idle=3) == 0.0
    assert math.isinf(ewt(1, 240, 0))


def test_handle_times_blend_default_then_window():
    h = HandleTimes(default_aht=300, window=600, min_samples=4)
    assert h.aht(0) == 300
    h.add(10, 100)
    assert h.aht(10) == (100 + 3 * 300) / 4
    for t in (20, 30, 40):
        h.add(t, 100)
    assert h.aht(40) == 100
    h.add(700, 400)  # the first four fall out of the 10-minute window
    assert h.aht(700) == (400 + 3 * 300) / 4


def test_engine_estimates_from_recent_calls_and_staffed_agents():
    eng, clock, _ = make_engine([agent("a1"), agent("a2"), agent("a3", skill="other", general=5)],
                                [standard_queue(wrapup=0)], default_aht=200)
    for a in ("a1", "a2"):
        eng.login(a)
    eng.login("a3")  # serves only "general" here ("other" has no queue)
    for i in range(3):
        eng.enqueue(f"busy{i}", "general")
        eng.connected(f"busy{i}")
    for i in range(4):
        eng.enqueue(f"w{i}", "general")
    est = eng.estimate("w3")
    assert est.position == 4 and est.staffed == 3
    assert est.seconds == 4 * 200 / 3
    # handle times of finished calls pull the AHT towards them
    clock.tick(60)
    for i in range(3):
        eng.call_ended(f"busy{i}")  # 60 s each; w0..w2 go to the freed agents
    assert eng.position("w3") == 1
    assert eng.estimate("w3").aht == (3 * 60 + 2 * 200) / 5


def test_enterprise_caller_position_ahead_of_normal():
    eng, clock, _ = make_engine([agent("a1")])
    eng.enqueue("n1", "general", "normal")
    eng.enqueue("e1", "general", "enterprise")
    assert eng.position("e1") == 1 and eng.position("n1") == 2
