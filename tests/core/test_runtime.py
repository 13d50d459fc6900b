"""Garbage-collector tuning and pause figures: applied on start, undone on stop, every pause counted."""

import asyncio
import gc
import time

import pytest

from hotline.runtime import GcMonitor, LoopLagMonitor, PauseHistogram, RuntimeTuning
from hotline.settings import RuntimeSettings, SettingsError, load_settings


def test_histogram_buckets_are_cumulative_and_end_with_inf():
    h = PauseHistogram(bounds=(0.001, 0.01, 0.1))
    for s in (0.0005, 0.001, 0.002, 0.05, 0.3, 2.0):
        h.observe(s)
    assert h.buckets() == [("0.001", 2), ("0.01", 3), ("0.1", 4), ("+Inf", 6)]
    assert h.count == 6 and h.max == 2.0 and h.total == pytest.approx(2.3535)
    assert h.figures() == {"count": 6, "total_ms": 2353.5, "max_ms": 2000.0}


def test_gc_monitor_times_each_collection_by_generation():
    ticks = iter([10.0, 10.004, 20.0, 20.25])
    mon = GcMonitor(clock=lambda: next(ticks))
    mon.install()
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        mon.uninstall()
    assert mon.by_generation[0].count == 1 and mon.by_generation[0].total == pytest.approx(0.004)
    assert mon.by_generation[2].count == 1 and mon.by_generation[2].max == pytest.approx(0.25)
    assert mon.by_generation[1].count == 0
    gc.collect()  # uninstalled: not counted
    assert mon.by_generation[2].count == 1 and mon._callback not in gc.callbacks


def test_gc_monitor_counts_what_a_collection_freed():
    mon = GcMonitor()
    mon.install()
    try:
        for _ in range(50):
            a: list = []
            a.append(a)  # a cycle only the collector frees
            del a
        gc.collect(2)
    finally:
        mon.uninstall()
    assert mon.collected[2] >= 50
    assert mon.figures()["gen2"]["collected"] >= 50


async def test_tuning_applies_thresholds_and_freeze_then_restores_them():
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    keep = [{"n": i} for i in range(1000)]  # alive at start-up: frozen
    rt = RuntimeTuning(RuntimeSettings(gc_thresholds=(900, 12, 345), loop_lag_interval=0.01))
    rt.apply()
    try:
        assert gc.get_threshold() == (900, 12, 345)
        assert gc.get_freeze_count() >= len(keep)
        assert rt.gc.by_generation[2].count == 1  # the start-up collection before the freeze, timed
        rt.apply()  # twice is once
        assert gc.get_threshold() == (900, 12, 345)
        gc.collect(1)
        assert rt.gc.by_generation[1].count == 1
    finally:
        await rt.restore()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert rt.gc._callback not in gc.callbacks


async def test_tuning_without_freeze_leaves_the_heap_alone():
    rt = RuntimeTuning(RuntimeSettings(gc_freeze=False, loop_lag_interval=0))
    rt.apply()
    try:
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == (700, 10, 1000)
    finally:
        await rt.restore()


async def test_loop_lag_monitor_sees_a_blocked_loop():
    mon = LoopLagMonitor(interval=0.01)
    mon.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.08)  # something holds the loop: every ready task waits this long
        await asyncio.sleep(0.05)
    finally:
        await mon.stop()
    assert mon.lag.count >= 3
    assert mon.lag.max >= 0.06


def test_thresholds_are_validated_with_the_setting_named():
    with pytest.raises(SettingsError) as err:
        load_settings(runtime={"gc_thresholds": [700, 10, 0]})
    assert "runtime.gc_thresholds[2]" in str(err.value) and "HOTLINE_RUNTIME__GC_THRESHOLDS" in str(err.value)
    with pytest.raises(SettingsError) as err:
        load_settings(runtime={"gc_freeze": "perhaps"})
    assert "runtime.gc_freeze: not a boolean" in str(err.value)


async def test_two_servers_in_one_process_leave_the_collector_as_they_found_it():
    before = gc.get_threshold()
    a = RuntimeTuning(RuntimeSettings(loop_lag_interval=0))
    b = RuntimeTuning(RuntimeSettings(loop_lag_interval=0))
    a.apply()
    b.apply()  # b found a's thresholds
    await a.restore()
    await b.restore()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
