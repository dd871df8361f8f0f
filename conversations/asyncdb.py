"""Database calls from async code.

Like Channels' `database_sync_to_async` (stale connections are closed around each call, so a
long-lived process recovers from a restarted database), except that a connection inside an
open transaction is left alone. That happens when sync code waits on async code that calls
back into the same thread: the blocking REST send under ATOMIC_REQUESTS, or a test case. Closing
the connection there would silently drop the caller's transaction.
"""

from __future__ import annotations

from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections


def _in_transaction() -> bool:
    return any(c.in_atomic_block for c in connections.all(initialized_only=True))


def _close_stale_connections() -> None:
    if not _in_transaction():
        close_old_connections()


P = ParamSpec("P")
R = TypeVar("R")


class DatabaseSyncToAsync(SyncToAsync[P, R]):
    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _close_stale_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            _close_stale_connections()


# Used like Channels' own: `await database_sync_to_async(func)(...)` or as a decorator.
database_sync_to_async = DatabaseSyncToAsync
