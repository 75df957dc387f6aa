"""``GET /metrics``: the running graph in Prometheus' text format, through prometheus-client.

A custom collector reads the runner's counters at scrape time (nothing is kept twice, and the
graph's threads never touch prometheus-client), in a registry of its own so a process that embeds
streamer does not get our series in its default registry. Names (all labelled ``stage`` and
``type``, sinks' end-to-end series ``sink``)::

    streamer_stage_frames_in_total, streamer_stage_frames_out_total, streamer_stage_drops_total,
    streamer_stage_reconnects_total          counters
    streamer_stage_latency_seconds           histogram of process() / decode time per frame
    streamer_stage_queue_depth, streamer_stage_queue_size
                                             gauges: frames waiting in the stage's input queue
    streamer_sink_e2e_latency_seconds        histogram: capture -> done, per sink
    streamer_sink_e2e_latency_quantile_seconds{quantile="0.5"|"0.95"}
                                             gauge: the same over the newest frames
    streamer_graph_running                   gauge: 1 while frames flow
    process_cpu_seconds_total, process_resident_memory_bytes, ...   (ProcessCollector)

Query example: ``rate(streamer_stage_frames_out_total{stage="style"}[30s])`` is style's fps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from streamer.runner import GraphRunner


class RunnerCollector(Collector):
    """Reads one GraphRunner's metrics at each scrape."""

    def __init__(self, runner: GraphRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        r = self.runner
        labels = ["stage", "type"]
        frames_in = CounterMetricFamily("streamer_stage_frames_in", "Frames a stage took in", labels=labels)
        frames_out = CounterMetricFamily(
            "streamer_stage_frames_out", "Frames a stage passed on", labels=labels
        )
        drops = CounterMetricFamily(
            "streamer_stage_drops", "Frames dropped at a stage (entrance or newest queue)", labels=labels
        )
        reconnects = CounterMetricFamily("streamer_stage_reconnects", "Reconnects of a source", labels=labels)
        latency = HistogramMetricFamily(
            "streamer_stage_latency_seconds", "Seconds a stage worked on one frame", labels=labels
        )
        depth = GaugeMetricFamily(
            "streamer_stage_queue_depth", "Frames waiting in the input queue", labels=labels
        )
        size = GaugeMetricFamily("streamer_stage_queue_size", "Length of the input queue", labels=labels)
        e2e = HistogramMetricFamily(
            "streamer_sink_e2e_latency_seconds", "Seconds from capture until a sink was done", labels=["sink"]
        )
        e2e_q = GaugeMetricFamily(
            "streamer_sink_e2e_latency_quantile_seconds",
            "End-to-end latency quantile over the newest frames",
            labels=["sink", "quantile"],
        )
        for s in r.spec.stages:
            m = r.metrics[s.name]
            key = [s.name, s.type]
            frames_in.add_metric(key, m.frames_in)
            frames_out.add_metric(key, m.frames_out)
            drops.add_metric(key, m.drops)
            counters = dict(m.counters) | dict(r.stages[s.name].counters)
            reconnects.add_metric(key, counters.get("reconnects", 0))
            latency.add_metric(key, m.histogram.cumulative(), m.histogram.total)
            edge = r.inbox.get(s.name)
            if edge is not None:
                depth.add_metric(key, len(edge))
                size.add_metric(key, edge.maxsize)
            if not r.outs[s.name]:  # a sink
                e2e.add_metric([s.name], m.e2e_histogram.cumulative(), m.e2e_histogram.total)
                for q in (50, 95):
                    v = m.e2e_ms(q)
                    if v is not None:
                        e2e_q.add_metric([s.name, str(q / 100)], v / 1000.0)
        running = GaugeMetricFamily("streamer_graph_running", "1 while the graph runs", labels=["graph"])
        running.add_metric([r.spec.name], float(r.started is not None and not r.finished.is_set()))
        yield from (frames_in, frames_out, drops, reconnects, latency, depth, size, e2e, e2e_q, running)


def make_registry(runner: GraphRunner) -> CollectorRegistry:
    """A registry with the runner's series and the process' CPU and memory."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunnerCollector(runner))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format (``prometheus_client.CONTENT_TYPE_LATEST``)."""
    return generate_latest(registry)
