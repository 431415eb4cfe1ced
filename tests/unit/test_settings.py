from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.settings import Settings


def test_defaults_work_offline_on_one_machine() -> None:
    settings = Settings()
    assert settings.data_dir == Path("./data")
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith("data/pdfline.db")
    assert settings.resolved_embedding_provider == "hashing"
    assert settings.redis_url is None


def test_environment_names_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("PDFLINE_CHUNK_SIZE", "100")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = Settings()
    assert settings.max_upload_bytes == int(2.5 * 1024 * 1024)
    assert settings.chunk_size == 100
    assert settings.resolved_embedding_provider == "openai"
    assert "sk-test" not in repr(settings)


def test_overlap_must_be_smaller_than_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDFLINE_CHUNK_SIZE", "50")
    monkeypatch.setenv("PDFLINE_CHUNK_OVERLAP", "50")
    with pytest.raises(ValidationError, match="CHUNK_OVERLAP"):
        Settings()


def test_embed_time_limit_must_outlast_the_clients_own_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("PDFLINE_EMBEDDING_TIMEOUT_S", "30")
    monkeypatch.setenv("PDFLINE_EMBEDDING_MAX_RETRIES", "2")
    monkeypatch.setenv("PDFLINE_EMBED_TIME_LIMIT_S", "60")
    with pytest.raises(ValidationError, match="EMBED_TIME_LIMIT_S"):
        Settings()
    monkeypatch.setenv("PDFLINE_EMBED_TIME_LIMIT_S", "120")
    settings = Settings()
    assert settings.stage_time_limit_s("embed") == 120
    assert settings.stage_hard_time_limit_ms("embed") == 132_000, "dramatiq's interrupt is only a backstop"
