"""SQLite writes: the writer lock held from a transaction's first write to its end, and inserts of
many rows sent as few statements."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from pipeline import sqlite_writer
from pipeline.db import create_db_engine, insert_ignoring_duplicates
from pipeline.models import Document, Page
from pipeline.schema import upgrade
from pipeline.settings import Settings
from pipeline.sqlite_writer import OrderedWritesConnection


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        setup.execute("INSERT INTO t VALUES (1, 0)")
    return path


@pytest.fixture
def lock_file(database: Path) -> Iterator[int]:
    """A descriptor of our own on the lock file: flock conflicts between descriptors in one process too."""
    fd = os.open(f"{database}-writer-lock", os.O_RDWR | os.O_CREAT)
    yield fd
    os.close(fd)


def is_free(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def connect(database: Path, timeout: float = 5.0) -> sqlite3.Connection:
    return sqlite3.connect(database, timeout, factory=OrderedWritesConnection, check_same_thread=False)


def test_the_lock_is_held_from_the_first_write_until_commit(database: Path, lock_file: int) -> None:
    connection = connect(database)
    connection.execute("SELECT v FROM t").fetchall()
    assert is_free(lock_file)
    connection.execute("UPDATE t SET v = v + 1")
    assert not is_free(lock_file)
    connection.execute("UPDATE t SET v = v + 1")
    connection.commit()
    assert is_free(lock_file)
    connection.execute("INSERT INTO t VALUES (2, 0)")
    connection.rollback()
    assert is_free(lock_file)
    assert connection.execute("SELECT v FROM t").fetchall() == [(2,)]


def test_a_write_that_fails_before_its_transaction_does_not_keep_the_lock(database: Path, lock_file: int) -> None:
    connection = connect(database)
    with pytest.raises(sqlite3.OperationalError):
        connection.execute("UPDATE missing SET v = 1")
    assert not connection.in_transaction
    assert is_free(lock_file)


def test_a_writer_waits_for_the_lock_and_gives_up_at_its_timeout(database: Path, lock_file: int) -> None:
    fcntl.flock(lock_file, fcntl.LOCK_EX)  # as another process would
    connection = connect(database, timeout=0.2)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        connection.execute("UPDATE t SET v = 5")
    fcntl.flock(lock_file, fcntl.LOCK_UN)
    connection.execute("UPDATE t SET v = 5")  # neither lock was left taken by the failed wait
    connection.commit()
    assert connection.execute("SELECT v FROM t").fetchall() == [(5,)]


def test_a_writer_waiting_in_another_thread_goes_on_once_the_first_commits(database: Path) -> None:
    first, second = connect(database), connect(database)
    first.execute("UPDATE t SET v = 1")
    started, done = threading.Event(), threading.Event()

    def write() -> None:
        started.set()
        second.execute("UPDATE t SET v = v * 10")
        second.commit()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert started.wait(5)
    assert not done.wait(0.2)  # still waiting on the first writer
    first.commit()
    assert done.wait(5)
    writer.join(5)
    assert first.execute("SELECT v FROM t").fetchall() == [(10,)]


def test_an_exception_while_taking_the_lock_leaves_nothing_held(
    database: Path, lock_file: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A time limit's exception can land just after the flock succeeded: the rollback that follows
    still lets it go."""
    real_take = sqlite_writer._take

    def take_then_interrupted(fd: int, timeout_s: float) -> None:
        real_take(fd, timeout_s)
        raise KeyboardInterrupt

    connection = connect(database)
    monkeypatch.setattr(sqlite_writer, "_take", take_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        connection.execute("UPDATE t SET v = 7")
    monkeypatch.setattr(sqlite_writer, "_take", real_take)
    assert is_free(lock_file)
    connection.execute("UPDATE t SET v = 7")
    connection.close()  # uncommitted: rolled back, and the lock goes with the connection
    assert is_free(lock_file)


def test_many_rows_go_to_sqlite_in_one_statement(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(data_dir=tmp_path))
    upgrade(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with Session(engine) as session, session.begin():
        session.add(Document(id="d", filename="d.pdf", sha256="0" * 64, size_bytes=1))
    rows = [{"document_id": "d", "number": n, "text": f"page {n}", "skipped_reason": None} for n in range(1, 301)]
    with Session(engine) as session, session.begin():
        insert_ignoring_duplicates(session, Page, rows)
        insert_ignoring_duplicates(session, Page, [*rows[:10], {**rows[0], "number": 301}])  # redelivered, one new
    inserts = [s for s in statements if s.startswith("INSERT") and "INTO pages " in s]
    assert len(inserts) == 2
    assert all(s.startswith("INSERT OR IGNORE") for s in inserts)
    with Session(engine) as session:
        assert len(session.exec(select(Page)).all()) == 301
