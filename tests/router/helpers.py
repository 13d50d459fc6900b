"""Small builders shared by the router tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from router.engine import Engine
from router.models import Agent, Group, QueueConfig, RoutingConfig, Site, Target


@dataclass
class FakeClock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Recorder:
    events: list = field(default_factory=list)

    def __call__(self, ev) -> None:
        self.events.append(ev)

    def of(self, cls):
        return [e for e in self.events if isinstance(e, cls)]


SITES = (Site("centre", "市中心", centre=True), Site("east", "东区分中心"), Site("west", "西区分中心"))
GROUPS = (Group("g1", "centre"), Group("g2", "centre"), Group("ge", "east"), Group("gw", "west"))


def agent(aid: str, group: str = "g1", prof: int = 5, skill: str = "general", **more: int) -> Agent:
    site = {g.id: g.site_id for g in GROUPS}[group]
    skills = {skill: prof, **more}
    seat = "8" + "".join(ch for ch in aid if ch.isdigit()).rjust(3, "0")
    return Agent(aid, seat, group, site, skills)


def standard_queue(**kw) -> QueueConfig:
    targets = kw.pop(
        "targets",
        (
            Target(0, groups=("g1",), name="home group"),
            Target(30, sites=("centre",), name="centre"),
            Target(60, all_sites=True, name="all sites"),
        ),
    )
    return QueueConfig(kw.pop("id", "general"), kw.pop("skill", "general"), targets, **kw)


def make_engine(agents, queues=None, clock=None, **kw):
    clock = clock or FakeClock()
    rec = Recorder()
    cfg = RoutingConfig(SITES, GROUPS, tuple(agents), tuple(queues or (standard_queue(),)))
    return Engine(cfg, clock, listener=rec, **kw), clock, rec
