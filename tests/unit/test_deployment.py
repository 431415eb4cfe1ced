"""compose.yaml and the Dockerfile, checked for structure (no Docker engine here): the services a
deployment needs, started with the documented commands, set up only with settings that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli.up import worker_commands
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def _known_variables() -> set[str]:
    known = set()
    for name, field in Settings.model_fields.items():
        known.add(f"PDFLINE_{name.upper()}")
        aliases = getattr(field.validation_alias, "choices", None) or []
        known.update(str(alias) for alias in aliases)
    return known


def test_every_service_a_deployment_needs_is_there_with_healthchecks_and_restarts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "postgres", "migrate", "api", "worker", "vector-worker", "scheduler"}
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no", "a one-shot job"
            continue
        assert service["restart"] == "unless-stopped", name
        assert "healthcheck" in service, name
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == "yes"
    assert "pgvector" in services["postgres"]["image"]


def test_services_run_the_documented_commands(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    services = compose["services"]
    expected = {
        "migrate": ["pdfline", "db", "upgrade"],
        "api": ["uvicorn", "api.main:app"],
        "worker": ["dramatiq", "pipeline.worker"],
        "vector-worker": ["dramatiq", "pipeline.worker"],
        "scheduler": ["periodiq", "pipeline.worker"],
    }
    for name, start in expected.items():
        command = services[name]["command"]
        assert command[: len(start)] == start, name
        assert f"`{' '.join(start)}" in readme, f"{' '.join(start)} is documented in the README"


def test_workers_scale_and_the_scheduler_runs_once(compose: dict[str, Any]) -> None:
    for name in ("worker", "vector-worker"):
        assert "container_name" not in compose["services"][name]
        assert "ports" not in compose["services"][name], "published ports would clash at --scale worker=4"
    assert compose["services"]["scheduler"]["deploy"]["replicas"] == 1
    for name in ("api", "worker", "vector-worker"):
        assert "uploads:/data" in compose["services"][name]["volumes"], "api and workers share the uploads"
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_the_two_workers_listen_to_every_queue_once(compose: dict[str, Any]) -> None:
    """``pdfline up``'s split (``pipeline.cli.up.worker_commands``): a queue left out would keep its
    messages for good."""
    listened = []
    for name in ("worker", "vector-worker"):
        command = compose["services"][name]["command"]
        listened.append(sorted(command[command.index("--queues") + 1 :]))
    workers = worker_commands(Settings(), processes=2, threads=None, vector_threads=None)
    assert listened == [sorted(worker.queues) for worker in workers]


def test_every_variable_compose_sets_is_a_setting_and_api_keys_are_required(compose: dict[str, Any]) -> None:
    known = _known_variables()
    for name, service in compose["services"].items():
        if name in ("redis", "postgres"):
            continue
        environment = service["environment"]
        unknown = {v for v in environment if v not in known and not v.startswith("dramatiq_")}  # dramatiq's own
        assert not unknown, f"{name} sets variables pdfline does not read: {unknown}"
        assert re.fullmatch(r"\$\{PDFLINE_API_KEYS:\?.+\}", environment["PDFLINE_API_KEYS"]), "keys are required"
        assert environment["PDFLINE_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_image_is_built_in_stages_and_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users, "a USER line"
    assert users[-1] not in ("root", "0")
    assert "uv sync --frozen" in dockerfile, "installs exactly what uv.lock pins"
