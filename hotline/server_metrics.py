"""Prometheus view of the server's moving parts, read at scrape time.

One custom collector reads the counters the parts already keep (AMI client
stats, bus subscriber queues, the live call model, the journal backlog, AsyncAGI
sessions), so nothing on the hot path pays for metrics.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:  # pragma: no cover
    from hotline.app import HotlineServer
    from hotline.runtime import RuntimeTuning

_AMI_COUNTERS = (
    ("events_received", "AMI events read off the socket"),
    ("events_dispatched", "AMI events handed to subscribers"),
    ("dropped", "AMI events dropped because the event queue was full"),
    ("overflow_resyncs", "resynchronisations run after dropped events"),
    ("handler_errors", "AMI event handlers that raised"),
    ("actions_sent", "AMI actions sent"),
    ("action_timeouts", "AMI actions that timed out"),
    ("reconnects", "AMI logins after the first"),
    ("connect_failures", "AMI TCP connects refused or timed out"),
    ("login_failures", "AMI logins refused"),
    ("pongs_missed", "AMI heartbeats with no Pong in time"),
    ("malformed", "AMI blocks that were neither event nor response"),
    ("decode_errors", "AMI messages that were not valid UTF-8"),
    ("oversized", "AMI frames over the size limit"),
)


class ServerCollector(Collector):
    def __init__(self, server: "HotlineServer") -> None:
        self.server = server

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        s = self.server
        st = s.client.stats
        yield GaugeMetricFamily("hotline_ami_connected", "1 when the AMI link is logged in", value=1.0 if st.connected else 0.0)
        yield GaugeMetricFamily("hotline_ami_event_queue_depth", "AMI events waiting for the dispatcher", value=st.queue_depth)
        yield GaugeMetricFamily("hotline_ami_event_queue_high_water", "deepest the AMI event queue has been", value=st.queue_high_water)
        yield GaugeMetricFamily("hotline_ami_events_per_second", "AMI events read in the last second", value=st.events_per_second)
        for name, doc in _AMI_COUNTERS:
            yield CounterMetricFamily(f"hotline_ami_{name}", doc, value=getattr(st, name))
        yield GaugeMetricFamily("hotline_live_calls", "calls in the live call model", value=s.model.live_calls)
        yield GaugeMetricFamily("hotline_live_channels", "channels in the live call model", value=len(s.model.channels))
        yield GaugeMetricFamily("hotline_agi_sessions", "AsyncAGI sessions in progress", value=len(s.agi.sessions))
        yield GaugeMetricFamily("hotline_cdr_pending", "finished calls not yet written", value=s.model.pending_cdrs)
        yield GaugeMetricFamily("hotline_journal_pending", "journal operations not yet written", value=s.journal.pending)
        yield CounterMetricFamily("hotline_journal_write_failures", "journal batches that failed and were retried", value=s.journal.failures)
        depth = GaugeMetricFamily("hotline_bus_queue_depth", "events waiting per bus subscriber", labels=["subscriber"])
        dropped = CounterMetricFamily("hotline_bus_dropped", "events a bus subscriber dropped", labels=["subscriber"])
        errors = CounterMetricFamily("hotline_bus_handler_errors", "events a bus subscriber failed on", labels=["subscriber"])
        for name, figs in s.bus.stats().by_subscriber.items():
            depth.add_metric([name], figs["depth"])
            dropped.add_metric([name], figs["dropped"])
            errors.add_metric([name], figs["errors"])
        yield depth
        yield dropped
        yield errors
        if s.runtime is not None:
            yield from _runtime_metrics(s.runtime)


def _runtime_metrics(rt: "RuntimeTuning") -> Iterator[HistogramMetricFamily | GaugeMetricFamily]:
    pauses = HistogramMetricFamily("hotline_gc_pause_seconds", "how long each garbage collection stopped the server",
                                   labels=["generation"])
    for gen, h in rt.gc.by_generation.items():
        pauses.add_metric([str(gen)], h.buckets(), h.total)
    yield pauses
    lag = rt.loop_lag.lag
    yield HistogramMetricFamily("hotline_event_loop_lag_seconds", "how late the event loop woke a sleeping task",
                                buckets=lag.buckets(), sum_value=lag.total)
    yield GaugeMetricFamily("hotline_gc_frozen_objects", "objects kept out of garbage collection since start-up",
                            value=gc.get_freeze_count())
