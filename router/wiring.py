"""How the composition root (hotline/app.py) builds and starts the router.

    parts = await build_router(settings, db, connector, bus=bus)     # reads config + agent states
    await parts.start()                                               # sink writer + ticker
    await parts.recover(await connector.live_legs())                  # after every server start
    services.extra["router"] = parts.service                          # for router.http
    ...
    await parts.stop()

``connector`` is a ``router.connector.CallControlConnector(control, ami_client)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from hotline.settings import Settings
from router.callbacks import CallbackDesk, CallbackPolicy
from router.engine import Engine
from router.models import Clock, RouterEvent
from router.repository import SqlCallbackRepository, SqlStateSink, load_agent_records, load_routing_config
from router.service import AgentConnector, AgentRecord, LiveLeg, RecoveryReport, RouterOptions, RouterService
from router.wallboard import Wallboard


@dataclass
class RouterParts:
    service: RouterService
    sink: SqlStateSink
    agent_records: list[AgentRecord]
    subscription: Any = None

    async def start(self) -> None:
        self.sink.start()
        await self.service.start()

    async def recover(self, legs: Sequence[LiveLeg]) -> RecoveryReport:
        return await self.service.recover(legs, self.agent_records)

    async def stop(self) -> None:
        if self.subscription is not None:
            self.subscription.cancel()
        await self.service.stop()
        await self.sink.stop()


async def build_router(
    settings: Settings, db: Any, connector: AgentConnector, *, bus: Any = None, clock: Clock = time.time
) -> RouterParts:
    async with db.session() as s:
        config = await load_routing_config(s)
        records = await load_agent_records(s)
    holder: dict[str, RouterService] = {}

    def listener(ev: RouterEvent) -> None:
        holder["svc"].on_event(ev)

    engine = Engine(config, clock, listener=listener)
    sink = SqlStateSink(db)
    desk = CallbackDesk(engine, SqlCallbackRepository(db, config), clock, CallbackPolicy())
    wallboard = Wallboard(engine, clock, interval=settings.router.interval)
    svc = RouterService(engine, connector, desk, wallboard, clock, sink=sink,
                        options=RouterOptions(ring_timeout=settings.router.ring_timeout))
    holder["svc"] = svc
    sub = None
    if bus is not None:
        sub = bus.subscribe(svc.on_bus_event, *router_bus_events(), name="router")
    return RouterParts(svc, sink, records, sub)


def router_bus_events() -> tuple[type, ...]:
    """The cti.events classes ``RouterService.on_bus_event`` handles: hang-ups, leg states and the AMI link."""
    from cti import events

    return tuple(getattr(events, name) for name in RouterService.BUS_EVENT_NAMES)
