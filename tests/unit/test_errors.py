from __future__ import annotations

import sqlite3

import pytest
from dramatiq.middleware import TimeLimitExceeded
from sqlalchemy.exc import OperationalError

from pipeline.errors import CorruptPdf, EmbeddingUnavailable, NoText, StageTimeLimit, describe, is_transient
from pipeline.stages.pacing import Deadline


@pytest.mark.parametrize(
    "exc",
    [
        EmbeddingUnavailable("503"),
        OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked")),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [CorruptPdf("x"), NoText("x"), TimeLimitExceeded(), KeyError("bug"), ValueError()])
def test_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_descriptions_carry_stable_types() -> None:
    assert describe(TimeLimitExceeded(), "parse", 2.5) == (
        "time_limit",
        "the parse stage ran longer than its limit of 2.5s",
    )
    assert describe(NoText("scan"), "parse", 1) == ("no_text", "scan")
    assert describe(KeyError("page"), "store", 1)[0] == "internal_error"
    locked = OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert describe(locked, "store", 1)[0] == "database_unavailable"


def test_a_stage_deadline_stops_at_a_checkpoint_with_time_limit() -> None:
    Deadline("parse", 60).check()
    expired = Deadline("embed", 0)
    with pytest.raises(StageTimeLimit, match="embed stage ran longer than its limit of 0s") as caught:
        expired.check()
    assert describe(caught.value, "embed", 0)[0] == "time_limit"
