"""How the test server wires the IVR and router HTTP APIs (as the composition root does).

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


def build(services: Any, flows_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    routers: list[Any] = []
    extras: dict[str, Any] = {}
    return routers, extras


async def start(extras: dict[str, Any]) -> None:
    pass


async def stop(extras: dict[str, Any]) -> None:
    pass
