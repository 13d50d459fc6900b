from router.engine import Engine
from router.models import OverflowRule, RoutingConfig, Target
from router.wallboard import Wallboard

from tests.router.helpers import GROUPS, SITES, FakeClock, agent, standard_queue


def build(queue=None, agents=None):
    clock = FakeClock(now=1_700_000_100.0)  # 100 s past a 15-minute boundary? align below
    clock.now = (clock.now // 900) * 900
    holder = {}
    cfg = RoutingConfig(SITES, GROUPS, tuple(agents or [agent("a1"), agent("a2", group="g2")]),
                        (queue or standard_queue(wrapup=10),))
    eng = Engine(cfg, clock, listener=lambda ev: holder["wb"].on_event(ev))
    wb = holder["wb"] = Wallboard(eng, clock)
    return eng, clock, wb


def test_scripted_sequence_gives_expected_figures():
    eng, clock, wb = build()
    eng.login("a1")
    clock.tick(100)
    # c1 answered at once by a1, talks 60 s
    eng.enqueue("c1", "general")
    clock.tick(5)
    eng.connected("c1")  # wait 5 s
    eng.enqueue("c2", "general")  # waits for a1
    clock.tick(60)
    eng.call_ended("c1")  # a1 wrap-up 10 s
    eng.enqueue("c3", "general")
    clock.tick(10)
    eng.advance()  # a1 free -> c2 (waited 70 s)
    eng.connected("c2")
    clock.tick(30)
    eng.abandon("c3")  # waited 40 s
    eng.enqueue("c4", "general")
    clock.tick(2)
    eng.abandon("c4")
    snap = wb.snapshot()
    (q,) = snap["queues"]
    f = q["interval"]
    assert (f["offered"], f["answered"], f["abandoned"]) == (4, 2, 2)
    assert f["service_level"] == 0.25  # 1 of 4 finished within 20 s
    assert f["answer_rate_15s"] == 0.25
    assert f["answer_rate"] == 0.5 and f["abandon_rate"] == 0.5
    assert f["asa"] == 37.5  # (5 + 70) / 2
    assert f["max_wait"] == 70.0
    assert f["aht"] == 70.0  # 60 s talk + 10 s wrap-up
    assert q["agents"]["on_call"] == 1 and q["agents"]["logged_out"] == 1
    g1 = next(g for g in snap["groups"] if g["id"] == "g1")
    assert g1["interval"]["answered"] == 2 and g1["waiting"] == 0
    # a1 logged in at +0 and was busy from +100 (ringing), except 0 s available between calls
    assert 0.5 < g1["occupancy"] < 0.7
    centre = next(s for s in snap["sites"] if s["id"] == "centre")
    assert centre["interval"]["answered"] == 2


def test_short_abandons_excluded_when_configured():
    eng, clock, wb = build()
    wb.short_abandon = 5.0
    eng.login("a1")
    eng.enqueue("c1", "general")
    eng.connected("c1")
    eng.enqueue("c2", "general")
    clock.tick(3)
    eng.abandon("c2")  # short abandon
    f = wb.snapshot()["queues"][0]["interval"]
    assert f["service_level"] == 1.0 and f["abandon_rate"] == 0.5


def test_overflow_reason_visible_on_wallboard():
    q = standard_queue(targets=(Target(0, groups=("g1",)),),
                       overflow=(OverflowRule(ewt_above=60, sites=("east",), name="east sub-centre"),))
    eng, clock, wb = build(q, [agent("h1"), agent("e1", group="ge")])
    eng.login("h1")
    eng.login("e1")
    eng.enqueue("c0", "general")
    eng.connected("c0")
    eng.enqueue("c1", "general")
    qs = wb.snapshot()["queues"][0]
    assert any("overflow to east sub-centre" in r for r in qs["modes"].values())
    assert qs["overflow_decisions"][0]["agent"] == "e1"
    assert "expected wait" in qs["overflow_decisions"][0]["reason"]


def test_interval_rollup_rows():
    eng, clock, wb = build()
    eng.login("a1")
    eng.enqueue("c1", "general")
    clock.tick(12)
    eng.connected("c1")
    assert wb.roll() == []
    clock.tick(900)
    rows = wb.roll()
    qrow = next(r for r in rows if r.scope_kind == "queue")
    assert (qrow.offered, qrow.answered, qrow.answered_within_sl, qrow.sum_wait) == (1, 1, 1, 12.0)
    assert {r.scope_kind for r in rows} == {"queue", "group", "site"}
    assert wb.snapshot()["queues"][0]["interval"]["offered"] == 0  # new interval
    assert wb.snapshot()["queues"][0]["today"]["offered"] == 1
