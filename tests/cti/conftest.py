"""Fixtures for the AMI/AsyncAGI tests: fast client settings and clean shutdown."""

from __future__ import annotations

import asyncio
import random
from typing import AsyncIterator, Callable

import pytest

from cti.ami.client import AmiClient
from hotline.settings import AmiSettings

from .tracefixtures import ReplayServer


def fast_settings(port: int, **kw: object) -> AmiSettings:
    base: dict[str, object] = dict(
        host="127.0.0.1",
        port=port,
        username="ivr",
        secret="ivrsecret",
        connect_timeout=5.0,
        action_timeout=10.0,
        ping_interval=30.0,
        pong_timeout=10.0,
        reconnect_initial=0.01,
        reconnect_max=0.05,
    )
    base.update(kw)
    return AmiSettings(**base)  # type: ignore[arg-type]


async def wait_until(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``cond`` (generous timeout: only to avoid hanging, never a performance bound)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


@pytest.fixture
def seeded() -> random.Random:
    return random.Random(12345)


@pytest.fixture
async def servers() -> AsyncIterator[list[ReplayServer]]:
    made: list[ReplayServer] = []
    yield made
    for s in made:
        await s.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[AmiClient]]:
    made: list[AmiClient] = []
    yield made
    for c in made:
        await c.stop()

