"""The worker entry point: ``dramatiq pipeline.worker`` (and ``periodiq pipeline.worker``).

Dramatiq imports this module in each worker process and uses the global broker set here.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.middleware.prometheus import DB_PATH, Prometheus

# Before prometheus_client is first imported: the worker processes write their metrics where
# dramatiq's exposition server (dramatiq_prom_host:dramatiq_prom_port, 0.0.0.0:9191) reads them.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = DB_PATH

from pipeline.logs import configure_logging
from pipeline.settings import Settings

settings = Settings()
configure_logging(settings)  # before the rest is imported, so its import-time logs come out the same way

from pipeline.broker import build_context  # noqa: E402
from pipeline.schema import upgrade as upgrade_schema  # noqa: E402

context = build_context(settings)
upgrade_schema(context.engine)
context.embedder  # noqa: B018  (built now so the log says at boot which embedder runs)
broker = context.broker
broker.add_middleware(Prometheus())
dramatiq.set_broker(broker)
