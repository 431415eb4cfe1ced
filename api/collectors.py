"""Service-wide gauges read at scrape time (documents by status, queue depths, live workers), so
any API process reports the same numbers and nothing has to keep them up to date."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.stats import documents_by_status
from pipeline.context import Context
from pipeline.queues import live_workers, queue_depths


class ServiceCollector(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        documents = GaugeMetricFamily("pdfline_documents", "Documents by status.", labels=["status"])
        for status, count in documents_by_status(self.ctx).items():
            documents.add_metric([status], count)
        yield documents

        queues = GaugeMetricFamily(
            "pdfline_queue_messages", "Messages per queue, by state (ready, delayed, dead).", labels=["queue", "state"]
        )
        for depth in queue_depths(self.ctx.broker, self.ctx.settings.queue_name):
            for state in ("ready", "delayed", "dead"):
                queues.add_metric([depth.queue, state], getattr(depth, state))
        yield queues

        workers = live_workers(self.ctx.broker, self.ctx.settings.worker_heartbeat_timeout_s)
        if workers is not None:
            yield GaugeMetricFamily("pdfline_workers", "Worker processes with a fresh heartbeat.", value=workers)


def service_metrics(ctx: Context) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(ctx))
    return generate_latest(registry)
