"""The composition root: builds every service from one Settings object.

Nothing else in the server constructs services or holds module-level state;
each part gets what it needs through its constructor. Start order follows the
flow of the system: storage, bus and journal first; then the CTI core (model,
control, resync, AsyncAGI) subscribed to the AMI client; then the decisions
(IVR engine, router); then the AMI link itself, so no event is missed; the
HTTP edge last. Stop runs the other way and flushes what was accepted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from cti.agi import AgiManager
from cti.ami.client import AmiClient
from cti.conference import ConferenceService
from cti.control import CallControl
from cti.events import CallStarted, LegHungup
from cti.model import CallModel
from cti.resync import Resync
from cti.transfer import TransferService
from hotline.api.app import AppServices, create_app
from hotline.bus import LocalBus
from hotline.journal import CallJournal
from hotline.runtime import RuntimeTuning
from hotline.server_metrics import ServerCollector
from hotline.settings import Settings
from hotline.storage.db import Database
from hotline.storage.migrate import ensure_schema
from hotline.wiring import IvrCallActions
from ivr.bundle import FlowRegistry, load_dir_bundle
from ivr.engine import EngineConfig, IvrEngine
from ivr.ports import Clock
from ivr.versions import FlowService
from router.connector import CallControlConnector
from router.wiring import RouterParts, build_router

log = logging.getLogger("hotline.app")


class StartupError(RuntimeError):
    """The server cannot start; the message is one line for the operator."""


@dataclass
class HotlineServer:
    settings: Settings
    db: Database
    bus: LocalBus
    journal: CallJournal
    client: AmiClient
    model: CallModel
    control: CallControl
    transfers: TransferService
    conferences: ConferenceService
    resync: Resync
    agi: AgiManager
    flows: FlowService
    ivr: IvrEngine
    router: RouterParts
    connector: CallControlConnector
    runtime: RuntimeTuning | None = None
    app: FastAPI | None = None
    _subs: list[Any] = field(default_factory=list)
    _started: bool = False

    @property
    def services(self) -> AppServices:
        assert self.app is not None
        return self.app.state.services

    async def start(self, *, ami_timeout: float | None = None) -> None:
        """Connect to Asterisk and start serving calls (the HTTP app is served by the runner)."""
        await self.journal.start()
        await self.model.start()
        await self.router.start()
        try:
            await self.client.start(timeout=ami_timeout)
        except Exception as exc:
            raise StartupError(
                f"cannot reach Asterisk AMI at {self.settings.ami.host}:{self.settings.ami.port}: {exc}"
            ) from None
        report = await self.router.recover(await self.connector.live_legs())
        log.info("router recovered: %s", report)
        if self.runtime is not None:
            self.runtime.apply()  # what is alive now lives as long as the server: out of the collector's way
        self._started = True

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.restore()
        self.agi.close()  # IVR sessions end first, while the AMI link is still up
        await self.router.stop()
        await self.client.stop()
        await self.model.stop()
        await self.journal.stop()
        for sub in self._subs:
            sub.cancel()
        await self.bus.close()
        await self.db.dispose()


async def build_server(
    settings: Settings, *, extra_routers: list[Any] | None = None, ivr_clock: Clock | None = None
) -> HotlineServer:
    """Build every part (no connection to Asterisk yet). Raises StartupError with one clear line.

    ``ivr_clock``: the IVR's clock (business hours, waits); the system clock when None.
    """
    db = Database(settings.database)
    try:
        await ensure_schema(db) if db.is_sqlite and settings.mode == "development" else await db.check()
    except Exception as exc:
        await db.dispose()
        raise StartupError(f"database {_safe_url(settings.database.url)}: {exc}") from None

    bus = LocalBus()
    journal = CallJournal(db)
    client = AmiClient(settings.ami)
    model = CallModel(bus, journal)
    client.subscribe(model.handle)
    control = CallControl(client, model, bus)
    control.start()
    transfers = TransferService(control, model, bus)
    conferences = ConferenceService(control, model, bus)
    subs = [
        bus.subscribe(journal.on_call_started, CallStarted, name="journal"),
        bus.subscribe(transfers.on_event, *TransferService.EVENTS, name="transfers"),
        bus.subscribe(conferences.on_event, LegHungup, name="conferences"),
    ]
    resync = Resync(client, model, bus)
    resync.attach()
    agi = AgiManager(client, default_timeout=settings.ivr.agi_timeout)

    bundle, errors = await asyncio.to_thread(load_dir_bundle, settings.ivr.flows_dir, settings.ivr.prompts_dir, settings.ivr.timezone)
    if bundle is None:
        await db.dispose()
        raise StartupError("flows do not validate: " + "; ".join(str(e) for e in errors[:5]))
    registry = FlowRegistry(bundle)
    flows = FlowService(registry, bundle.catalog, settings.data_dir / "flow-drafts")
    async with db.session() as s:
        await flows.load_active(s)

    connector = CallControlConnector(control, client)
    router = await build_router(settings, db, connector, bus=bus)
    engine = IvrEngine(
        registry, router.service, IvrCallActions(control), journal, clock=ivr_clock, history=journal,
        config=EngineConfig(agi_timeout=settings.ivr.agi_timeout, prompt_base=settings.ivr.asterisk_prompts,
                            recordings_dir=str(settings.recordings.dir.resolve())),
    )
    agi.on_session(engine.handle)

    server = HotlineServer(
        settings=settings, db=db, bus=bus, journal=journal, client=client, model=model, control=control,
        transfers=transfers, conferences=conferences, resync=resync, agi=agi, flows=flows, ivr=engine,
        router=router, connector=connector, runtime=RuntimeTuning(settings.runtime), _subs=subs,
    )
    server.app = create_app(
        AppServices(
            settings=settings, db=db, bus=bus,
            readiness_checks={"ami": lambda: client.connected},
            extra={"flows": flows, "router": router.service, "server": server},
        ),
        routers=_routers() + list(extra_routers or []),
    )
    server.app.state.metrics_registry.register(ServerCollector(server))
    return server


def _routers() -> list[Any]:
    from ivr.http import router as flows_router
    from router.http import router as router_router

    from hotline.web.pages import router as pages_router

    return [pages_router, flows_router, router_router]


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def flows_dir_default() -> Path:
    return Path(__file__).resolve().parent.parent / "flows"
