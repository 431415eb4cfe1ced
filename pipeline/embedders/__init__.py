"""Embedding providers and the factory that picks one from settings."""

from __future__ import annotations

import logging

from pipeline.embedders.base import Embedder
from pipeline.embedders.hashing import HashingEmbedder
from pipeline.embedders.openai_compatible import OpenAIEmbedder
from pipeline.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_OPENAI_MODEL = "text-embedding-3-small"


def build_embedder(settings: Settings) -> Embedder:
    if settings.resolved_embedding_provider == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        embedder = OpenAIEmbedder(
            model=settings.embedding_model or DEFAULT_OPENAI_MODEL,
            dimensions=settings.embedding_dimensions,
            api_key=key,
            base_url=settings.openai_base_url,
            timeout_s=settings.embedding_timeout_s,
            max_retries=settings.embedding_max_retries,
        )
        log.info("embedding with %s at %s", embedder.model, settings.openai_base_url or "OpenAI's default endpoint")
        return embedder
    if settings.embedding_provider is None:
        log.info(
            "no OpenAI settings found (OPENAI_API_KEY / OPENAI_BASE_URL): using the offline hashing "
            "embedder; set them for real semantic embeddings"
        )
    return HashingEmbedder(settings.embedding_dimensions, settings.embedding_model)


__all__ = ["Embedder", "HashingEmbedder", "OpenAIEmbedder", "build_embedder"]
