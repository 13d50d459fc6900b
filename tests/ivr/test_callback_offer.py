"""The call-back offer while a caller waits: the router's signal, the flow's ``after`` as the fallback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from ivr.bundle import FlowBundle
from ivr.ports import CallInfo, QueueOutcomeKind, QueueRequest
from ivr.simulate import ScriptedQueue, ScriptedQueueHandle
from ivr.validate import Catalog
from tests.ivr.conftest import bundle_with
from tests.ivr.test_engine import Call, _run_flow


@dataclass
class RouterLikeHandle(ScriptedQueueHandle):
    """A wait whose queue says whether the expected wait is above its call-back threshold."""

    says: Callable[[], bool] = lambda: True
    asked: int = 0

    def offer_callback(self) -> bool:
        self.asked += 1
        return self.says()


class RouterLikeQueue(ScriptedQueue):
    def __init__(self, says: Callable[[], bool]) -> None:
        super().__init__(["wait"])
        self.says = says

    async def enqueue(self, request: QueueRequest) -> RouterLikeHandle:
        plain = await super().enqueue(request)
        h = RouterLikeHandle(plain.outcome, says=self.says)
        self.handles[-1] = h
        return h


def waiting_call(bundle: FlowBundle, keys: list[str], says: Callable[[], bool]) -> Call:
    c = Call(bundle, keys)
    c.queue = c.engine.queue = RouterLikeQueue(says)  # type: ignore[assignment]
    return c


def offers(c: Call) -> list[dict[str, Any]]:
    return [d for _, ev, d in c.events() if ev == "callback_offer"]


def queue_commands(c: Call) -> list[str]:
    """The AGI commands from the general queue's first announcement on, by prompt name."""
    cmds = [x.split("/")[-1].split(" ")[0] if "/" in x else x for x in c.agi.commands]
    return cmds[cmds.index("queue_wait"):]


async def test_a_long_expected_wait_offers_the_call_back_after_the_first_announcement(bundle: FlowBundle) -> None:
    # 0: an agent; the router says the wait is long; the caller presses 1 at the offer
    c = waiting_call(bundle, ["0", "1"], lambda: True)
    await c.run()
    assert queue_commands(c)[:2] == ["queue_wait", "callback_offer"]
    assert offers(c) == [{"digits": "1", "reason": "expected_wait"}]
    assert c.queue.handles[0].callbacks == ["13800138000"]
    assert (c.summary.outcome, c.nodes()[-1]) == ("callback", "main.callback_done")
    assert c.clock.monotonic() < 90  # before the flow's own 90 s


async def test_a_short_expected_wait_leaves_the_offer_to_the_flows_time(bundle: FlowBundle) -> None:
    c = waiting_call(bundle, ["0", "1"], lambda: False)
    await c.run()
    assert offers(c) == [{"digits": "1", "reason": "waited"}]
    assert c.queue.handles[0].asked > 1  # asked on the way
    assert 90 <= c.clock.monotonic() < 120
    assert c.summary.outcome == "callback"


async def test_the_offer_comes_when_the_expected_wait_grows(bundle: FlowBundle) -> None:
    holder: dict[str, Call] = {}
    c = waiting_call(bundle, ["0", "1"], lambda: holder["c"].clock.monotonic() >= 30)
    holder["c"] = c
    await c.run()
    assert offers(c) == [{"digits": "1", "reason": "expected_wait"}]
    assert 30 <= c.clock.monotonic() < 90


async def test_the_offer_is_made_once(bundle: FlowBundle) -> None:
    # the caller lets the offer pass; the router keeps saying the wait is long; max_wait ends the wait
    c = waiting_call(bundle, ["0", ""], lambda: True)
    await c.run()
    assert offers(c) == [{"digits": "", "reason": "expected_wait"}]
    assert ("main.q_general", "queue_outcome", {"outcome": "overflow", "reason": "max_wait"}) in c.events()


async def test_a_failing_signal_falls_back_to_the_flows_time(bundle: FlowBundle, caplog: Any) -> None:
    def broken() -> bool:
        raise RuntimeError("queue gone")

    c = waiting_call(bundle, ["0", "1"], broken)
    with caplog.at_level(logging.WARNING, "ivr.engine"):
        await c.run()
    assert offers(c) == [{"digits": "1", "reason": "waited"}]
    assert "could not say whether to offer a call-back" in caplog.text


async def test_without_announcements_the_signal_counts_at_once(catalog: Catalog) -> None:
    flow = """
name: t
start: q
nodes:
  q:
    type: queue
    skill: general
    callback_offer: {after: 60s, prompt: callback_offer}
    on: {overflow: bye, callback: bye}
  bye:
    type: hangup
"""
    b = bundle_with(catalog, t=flow)
    c = waiting_call(b, ["1"], lambda: True)
    await _run_flow(c, b, "t")
    spoken = [x.split("/")[-1] for x in c.agi.commands if not x.startswith("SET VARIABLE")]
    assert spoken == ["callback_offer 5000 1", "HANGUP"]  # offered before any hold music
    assert offers(c) == [{"digits": "1", "reason": "expected_wait"}]
    assert c.clock.monotonic() < 60


# --------------------------------------------------------------------------- with the router


def router_with_a_busy_agent(callback_offer_wait: float) -> Any:
    from router.callbacks import CallbackDesk, MemoryCallbackRepository
    from router.engine import Engine
    from router.models import RoutingConfig
    from router.service import RouterService
    from router.wallboard import Wallboard
    from tests.router.helpers import GROUPS, SITES, FakeClock, agent, standard_queue
    from tests.router.test_service import FakeConnector

    clock = FakeClock()
    holder: dict[str, Any] = {}
    cfg = RoutingConfig(SITES, GROUPS, (agent("a1"),), (standard_queue(callback_offer_wait=callback_offer_wait),))
    eng = Engine(cfg, clock, listener=lambda ev: holder["svc"].on_event(ev), default_aht=120)
    svc = RouterService(eng, FakeConnector(), CallbackDesk(eng, MemoryCallbackRepository(), clock),
                        Wallboard(eng, clock), clock)
    holder["svc"] = svc
    svc.login("a1")
    return svc


@pytest.mark.parametrize("threshold,reason", [(60.0, "expected_wait"), (600.0, "waited")])
async def test_the_routers_threshold_decides_the_offer(bundle: FlowBundle, threshold: float, reason: str) -> None:
    svc = router_with_a_busy_agent(threshold)
    busy = await svc.enqueue(QueueRequest(CallInfo("busy", "PJSIP/trunk-busy", "13900000000", "12345"),
                                          "general", 5, None, False))
    await svc.wait_idle()
    assert busy.outcome.result().kind is QueueOutcomeKind.CONNECTED  # the only agent is on a call
    c = Call(bundle, ["0", "1"])
    c.engine.queue = svc
    await c.run()
    # one caller ahead, 120 s handling time: the expected wait is 120 s
    assert offers(c) == [{"digits": "1", "reason": reason}]
    assert c.summary.outcome == "callback"
    assert svc.callbacks.by_call[c.agi.linkedid].number == "13800138000"
    assert (c.clock.monotonic() < 90) is (reason == "expected_wait")
    assert not c.queue.requests  # the router took the call, not the stand-in
