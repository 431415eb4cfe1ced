"""The worker entry point: ``dramatiq pipeline.worker`` (and ``periodiq pipeline.worker``).

Dramatiq imports this module in each worker process and uses the global broker set here.
"""

from __future__ import annotations

import dramatiq

from pipeline.broker import build_context
from pipeline.logs import configure_logging
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings

settings = Settings()
configure_logging()
context = build_context(settings)
upgrade_schema(context.engine)
context.embedder  # noqa: B018  (built now so the log says at boot which embedder runs)
broker = context.broker
dramatiq.set_broker(broker)
