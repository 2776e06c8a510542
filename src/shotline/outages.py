"""Failures of the machine's resources, told apart from bugs: a full disk, an object store or a database
that cannot be reached. The worker turns the first two into a FAILED reason a user can act on, and hands
a task back to the queue when the database goes away (the task is not at fault; it runs again once the
database is back)."""

from __future__ import annotations

import errno
from collections.abc import Iterator

DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_disk_full(err: BaseException) -> bool:
    # PyAV's write errors carry the errno too (they subclass OSError).
    return any(getattr(e, "errno", None) in DISK_FULL for e in _chain(err))


def is_storage_unreachable(err: BaseException) -> bool:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # local storage only: nothing remote to lose
        return False
    for e in _chain(err):
        if isinstance(e, BotoCoreError):
            return True
        if isinstance(e, ClientError) and int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500:
            return True
    return False


def is_database_unreachable(err: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return any(isinstance(e, (OperationalError, InterfaceError))
               or (isinstance(e, DBAPIError) and e.connection_invalidated) for e in _chain(err))


def failure_reason(err: BaseException) -> str | None:
    """The FAILED reason for a resource failure, or None when `err` is not one."""
    if is_disk_full(err):
        return ("the server ran out of disk space while writing the video; nothing was kept. Try again later "
                "(the operator must free space in the data directory)")
    if is_storage_unreachable(err):
        return ("the result store could not be reached to save the video; nothing was kept. Try again later "
                "(the operator can check /readyz)")
    return None
