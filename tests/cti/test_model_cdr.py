"""The CDR writer: every finished call reaches the sink once, in order, even when the sink fails for a while."""

from __future__ import annotations

import asyncio

from cti import events as E
from cti.model import CallModel, ModelConfig
from tests.cti.test_model import RecordingBus, StepClock, ev


class FlakySink:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.records: list[E.CallRecord] = []
        self.attempts = 0

    async def write(self, record: E.CallRecord) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database unavailable")
        self.records.append(record)


def _call(model: CallModel, uid: str) -> None:
    f = dict(Channel=f"PJSIP/trunk-{uid}", Uniqueid=uid, Linkedid=uid, ChannelState="6", CallerIDNum="13800138000",
             CallerIDName="张三", Context="hotline-inbound", Exten="12345", Priority="1")
    model.handle(ev("Newchannel", **f))
    model.handle(ev("Hangup", **f, Cause="16"))


async def test_sink_failures_are_retried_in_order() -> None:
    sleeps: list[float] = []

    async def no_wait(s: float) -> None:
        sleeps.append(s)
        await asyncio.sleep(0)

    sink = FlakySink(failures=3)
    model = CallModel(RecordingBus(), sink, config=ModelConfig(cdr_retry_initial=0.5, cdr_retry_max=1.0),
                      clock=StepClock(), sleep=no_wait)
    _call(model, "1.1")  # finished before the writer starts: kept
    await model.start()
    _call(model, "2.1")
    _call(model, "3.1")
    await model.flush()
    assert [r.call_id for r in sink.records] == ["1.1", "2.1", "3.1"]
    assert model.stats.cdr_failures == 3 and model.stats.cdrs_written == 3
    assert sleeps == [0.5, 1.0, 1.0]  # backoff, capped
    assert model.pending_cdrs == 0
    await model.stop()


async def test_stop_flushes_pending_records() -> None:
    sink = FlakySink(failures=0)
    model = CallModel(RecordingBus(), sink, config=ModelConfig(), clock=StepClock())
    await model.start()
    for i in range(50):
        _call(model, f"{i}.9")
    await model.stop()
    assert len(sink.records) == 50
    assert len({r.call_id for r in sink.records}) == 50


async def test_no_sink_means_bus_only() -> None:
    bus = RecordingBus()
    model = CallModel(bus, config=ModelConfig(), clock=StepClock())
    await model.start()
    _call(model, "7.1")
    await model.flush()
    await model.stop()
    assert [e.cdr.call_id for e in bus.of(E.CallEnded)] == ["7.1"]
    assert model.pending_cdrs == 0
