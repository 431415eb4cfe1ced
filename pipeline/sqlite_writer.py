"""SQLite's one write lock, handed from each writer to the next as soon as it is free.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
1, 2, 5, ... up to 100 ms between tries. Under load a sleeping waiter misses the moments the lock
is free while the writers of another process take it again and again: in the pipeline benchmark
single waits reached 0.9 to 1.7 s, every thread of one worker waiting while the other wrote. Here
a transaction that is about to write first takes a lock of pdfline's own, an ``flock`` on a file
beside the database, and waits for it in steps of at most a millisecond, so the lock changes hands
within about a millisecond of being let go.

SQLite's own locking still decides what is safe; this lock only orders the writers. A write it
does not see (another program, a statement it does not recognise) is merely ordered by SQLite.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

#: The statements before which Python's sqlite3 opens a transaction by itself.
_WRITES = ("insert", "update", "delete", "replace")
_LONGEST_STEP_S = 0.001


def _take(fd: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    step = 0.0001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError("database is locked") from None
            time.sleep(step)
            step = min(step * 2, _LONGEST_STEP_S)


class OrderedWritesConnection(sqlite3.Connection):
    """A sqlite3 connection that holds the writer lock from its transaction's first write to its
    commit or rollback (``connect_args={"factory": OrderedWritesConnection}``).

    Each connection locks through a descriptor of its own, so threads exclude each other as
    processes do, and nothing is shared that a fork could copy half-taken. The lock is let go
    whenever the connection is outside a transaction, so an exception landing mid-acquire (a time
    limit's) leaves nothing held past the rollback that follows."""

    def __init__(self, database: str | os.PathLike[str], timeout: float = 5.0, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, timeout, *args, **kwargs)
        path = os.fspath(database)
        self._timeout_s = timeout
        self._lock_fd: int | None = None
        if path != ":memory:" and not path.startswith("file:"):
            self._lock_fd = os.open(
                f"{os.path.abspath(path)}-writer-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        self._may_hold = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:
        return super().cursor(factory or _OrderedWritesCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)  # the built-in shortcut would skip the cursor's

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def commit(self) -> None:
        self._end_transaction(super().commit)

    def rollback(self) -> None:
        self._end_transaction(super().rollback)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._close_lock()

    def __del__(self) -> None:
        self._close_lock()

    def _before(self, sql: str) -> None:
        if self._lock_fd is None or self.in_transaction or not sql.lstrip()[:7].lower().startswith(_WRITES):
            return
        self._may_hold = True  # first: the lock may be taken before an exception can land
        _take(self._lock_fd, self._timeout_s)

    def _end_transaction(self, end: Callable[[], None]) -> None:
        """The lock goes even when the commit or rollback fails, unless a transaction is still open."""
        try:
            end()
        finally:
            self._release_if_done()

    def _release_if_done(self) -> None:
        if self._may_hold and not self.in_transaction:
            self._may_hold = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def _close_lock(self) -> None:
        # Closing, not unlocking: in a forked child the descriptor is shared with the parent.
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            os.close(fd)


class _OrderedWritesCursor(sqlite3.Cursor):
    connection: OrderedWritesConnection

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            self.connection._before(sql)
            return super().execute(sql, parameters)
        finally:
            self.connection._release_if_done()  # a write that failed before its transaction began

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            self.connection._before(sql)
            return super().executemany(sql, parameters)
        finally:
            self.connection._release_if_done()
