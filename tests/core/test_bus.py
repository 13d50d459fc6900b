import asyncio
import logging
from dataclasses import dataclass

from hotline.bus import LocalBus


@dataclass(frozen=True)
class Rang:
    n: int


@dataclass(frozen=True)
class Other:
    n: int


async def test_typed_subscription_and_order():
    bus = LocalBus()
    got = []
    bus.subscribe(lambda e: got.append(e.n), Rang, name="sync")
    for i in range(100):
        bus.publish(Rang(i))
        bus.publish(Other(i))
    await bus.drain()
    assert got == list(range(100))
    await bus.close()


async def test_raising_handler_is_logged_and_others_still_served(caplog):
    bus = LocalBus()
    good = []

    async def bad(e):
        raise RuntimeError("boom")

    bus.subscribe(bad, Rang, name="bad")
    bus.subscribe(lambda e: good.append(e), Rang, name="good")
    with caplog.at_level(logging.ERROR, "hotline.bus"):
        bus.publish(Rang(1))
        bus.publish(Rang(2))
        await bus.drain()
    assert len(good) == 2
    assert bus.stats().by_subscriber["bad"]["errors"] == 2
    assert "subscriber bad failed on Rang" in caplog.text
    await bus.close()


async def test_slow_subscriber_drops_and_never_blocks_publisher():
    bus = LocalBus()
    gate = asyncio.Event()

    async def slow(e):
        await gate.wait()

    bus.subscribe(slow, name="slow", maxsize=10)
    fast = []
    bus.subscribe(lambda e: fast.append(e), name="fast")
    for i in range(50):
        bus.publish(Rang(i))  # returns at once even though "slow" is stuck
    stats = bus.stats().by_subscriber
    assert stats["slow"]["dropped"] == 40  # the queue holds 10; the publisher never waited
    gate.set()
    await bus.drain()
    assert len(fast) == 50
    await bus.close()


async def test_cancel_stops_delivery():
    bus = LocalBus()
    got = []
    sub = bus.subscribe(lambda e: got.append(e), name="x")
    bus.publish(Rang(1))
    await bus.drain()
    sub.cancel()
    bus.publish(Rang(2))
    await asyncio.sleep(0)
    assert [e.n for e in got] == [1]
    await bus.close()
