"""Fixtures for the IVR tests: the default flows, inline flows, a scripted call."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.bundle import FlowBundle, build_bundle, load_dir_bundle
from ivr.validate import Catalog, flow_files, load_catalog

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: a Monday morning, a working day: the centre is staffed
WORKDAY_10AM = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
#: a Saturday evening: after hours
SATURDAY_8PM = dt.datetime(2026, 11, 21, 20, 0, tzinfo=SHANGHAI)


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
