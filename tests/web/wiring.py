"""How the test server wires the IVR and router HTTP APIs, as the composition root does.

Each part is optional: a package whose ``http`` module is not there yet adds no router.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _flows(services: Any, flows_dir: Path, routers: list[Any]) -> None:
    from ivr.bundle import FlowRegistry, load_dir_bundle
    from ivr.http import router
    from ivr.validate import load_catalog
    from ivr.versions import FlowService

    catalog, errors = load_catalog(flows_dir)
    bundle, more = load_dir_bundle(flows_dir)
    assert bundle is not None and not errors and not more, [str(e) for e in errors + more]
    services.extra["flows"] = FlowService(FlowRegistry(bundle), catalog, flows_dir.parent / "drafts")
    routers.append(router)


@dataclass
class ManualClock:
    """The router's clock, moved by the tests."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


class AnsweringSeats:
    """Call control stand-in: every seat answers at once and every bridge succeeds."""

    def __init__(self) -> None:
        self.n = 0

    async def ring_agent(self, seat: str, call_id: str, caller: str, timeout: float) -> Any:
        from router.service import RingResult

        self.n += 1
        return RingResult("answered", f"PJSIP/{seat}-{self.n:08x}")

    async def ring_citizen(self, number: str, call_id: str, timeout: float) -> Any:
        from router.service import RingResult

        self.n += 1
        return RingResult("answered", f"Local/{number}@hotline-outbound-{self.n}")

    async def bridge(self, caller_channel: str, agent_channel: str) -> bool:
        return True

    async def hangup(self, channel: str) -> None:
        pass

    async def mark(self, channel: str, queue: str, priority: str, enqueued_at: float, state: str) -> None:
        pass


#: router agent ids are the agents table ids (the seeded "agent" user is seat 1)
SEATS = {"1": ("8001", "g1", "centre"), "2": ("8002", "g1", "centre"), "3": ("8101", "ge", "east")}


def _routing(services: Any, routers: list[Any], extras: dict[str, Any]) -> None:
    from router.callbacks import CallbackDesk, MemoryCallbackRepository
    from router.engine import Engine
    from router.http import router
    from router.models import Agent, Group, OverflowRule, QueueConfig, RoutingConfig, Site, Target
    from router.service import RouterService
    from router.wallboard import Wallboard

    clock = ManualClock()
    sites = (Site("centre", "市中心", centre=True), Site("east", "东区分中心"))
    groups = (Group("g1", "centre", "综合一组"), Group("ge", "east", "东区组"))
    agents = tuple(Agent(aid, seat, g, site, {"general": 5}, f"坐席{aid}") for aid, (seat, g, site) in SEATS.items())
    queue = QueueConfig(
        "general", "general", (Target(0, groups=("g1",), name="综合一组"), Target(300, all_sites=True, name="全部站点")),
        name="综合咨询", overflow=(OverflowRule(ewt_above=60, groups=("ge",), name="东区支援"),),
    )
    holder: dict[str, Any] = {}
    engine = Engine(RoutingConfig(sites, groups, agents, (queue,)), clock,
                    listener=lambda ev: holder["svc"].on_event(ev))
    svc = RouterService(engine, AnsweringSeats(), CallbackDesk(engine, MemoryCallbackRepository(), clock),
                        Wallboard(engine, clock), clock)
    holder["svc"] = svc
    services.extra["router"] = svc
    extras["router"] = svc
    extras["clock"] = clock
    routers.append(router)


def build(services: Any, flows_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    routers: list[Any] = []
    extras: dict[str, Any] = {}
    if has("ivr.http"):
        _flows(services, flows_dir, routers)
    if has("router.http"):
        _routing(services, routers, extras)
    return routers, extras


async def seed(services: Any) -> None:
    """The agents table rows behind the router's seats (users point at them)."""
    from hotline.storage.models import Agent

    async with services.db.session() as session:
        for aid, (seat, _, _) in SEATS.items():
            session.add(Agent(id=int(aid), extension=seat, name=f"坐席{aid}"))
        await session.commit()


async def start(extras: dict[str, Any]) -> None:
    if "router" in extras:
        await extras["router"].start()


async def stop(extras: dict[str, Any]) -> None:
    if "router" in extras:
        await extras["router"].stop()
