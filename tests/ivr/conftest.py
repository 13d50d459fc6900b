"""Fixtures for the IVR tests: the default flows, inline flows, a scripted call."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from hotline.storage.db import Database
from ivr.bundle import FlowBundle, FlowRegistry, build_bundle, load_dir_bundle
from ivr.calendar import load_calendar
from ivr.ports import FixedClock
from ivr.validate import Catalog, flow_files, load_catalog
from ivr.versions import FlowService
from tests.conftest import ApiEnv, make_settings

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: a Monday morning, a working day: the centre is staffed
WORKDAY_10AM = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
#: a Saturday evening: after hours for a centre whose intake seats keep office hours (``office_bundle``)
SATURDAY_8PM = dt.datetime(2026, 11, 21, 20, 0, tzinfo=SHANGHAI)

#: the shipped intake seats' schedule (around the clock) and office hours in its place
SHIPPED_AGENTS = '  agents:\n    workday: ["00:00-24:00"]\n    restday: ["00:00-24:00"]\n'
OFFICE_AGENTS = '  agents:\n    workday: ["08:00-20:00"]\n    restday: ["09:00-17:00"]\n'


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    cat, errors = load_catalog(FLOWS)
    assert errors == []
    return cat


@pytest.fixture(scope="session")
def bundle() -> FlowBundle:
    b, errors = load_dir_bundle(FLOWS)
    assert errors == [], errors
    assert b is not None
    return b


def office_hours(holidays_yaml: str) -> str:
    """The shipped holidays.yaml with the intake seats staffed 08:00-20:00 on working days and
    09:00-17:00 on rest days, as a centre that is not staffed around the clock configures them."""
    assert SHIPPED_AGENTS in holidays_yaml
    return holidays_yaml.replace(SHIPPED_AGENTS, OFFICE_AGENTS, 1)


@pytest.fixture(scope="session")
def office_catalog(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The shipped catalogues with office hours for the intake seats (holidays and make-up days as shipped)."""
    path = tmp_path_factory.mktemp("office") / "holidays.yaml"
    path.write_text(office_hours((FLOWS / "holidays.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    calendar, errors = load_calendar(path)
    assert errors == []
    return dataclasses.replace(catalog, calendar=calendar)


@pytest.fixture(scope="session")
def office_bundle(office_catalog: Catalog) -> FlowBundle:
    """The shipped flows for a centre whose intake seats keep office hours: the after-hours branch runs."""
    b, errors = build_bundle(default_texts(), office_catalog)
    assert errors == [] and b is not None
    return b


def default_texts() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in flow_files(FLOWS)}


def bundle_with(catalog: Catalog, versions: dict[str, int] | None = None, **texts: str) -> FlowBundle:
    """The default flows with some replaced or added (name=yaml text)."""
    all_texts = default_texts()
    all_texts.update(texts)
    b, errors = build_bundle(all_texts, catalog, versions)
    assert errors == [], [str(e) for e in errors]
    assert b is not None
    return b


@pytest.fixture
def service(bundle: FlowBundle, catalog: Catalog, tmp_path: Path) -> FlowService:
    """The flow service over the default flows; its clock stands on a working-day morning."""
    return FlowService(FlowRegistry(bundle), catalog, tmp_path / "drafts", clock=FixedClock(WORKDAY_10AM))


@pytest.fixture
async def env(sqlite_db: Database, service: FlowService) -> AsyncIterator[ApiEnv]:
    """/api/flows on SQLite, served in-process."""
    from hotline.api.app import AppServices, create_app
    from ivr.http import router as flows_router

    services = AppServices(settings=make_settings(str(sqlite_db.url)), db=sqlite_db, extra={"flows": service})
    app = create_app(services, routers=[flows_router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield ApiEnv(app=app, client=client, services=services)
