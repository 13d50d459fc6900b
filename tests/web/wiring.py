"""How the test server wires the IVR and router HTTP APIs, as the composition root does.

Each part is optional: a package whose ``http`` module is not there yet adds no router.
"""

from __future__ import annotations

import importlib.util
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


def build(services: Any, flows_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    routers: list[Any] = []
    extras: dict[str, Any] = {}
    if has("ivr.http"):
        _flows(services, flows_dir, routers)
    return routers, extras


async def start(extras: dict[str, Any]) -> None:
    pass


async def stop(extras: dict[str, Any]) -> None:
    pass
