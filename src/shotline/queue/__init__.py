"""How queued tasks reach workers. The task row is the source of truth; a queue only wakes workers.

`inprocess`: the server's own worker child process (inprocess.py). `celery`: `shotline worker` processes
fed through a broker (celery_queue.py for the sending side, celery_worker.py for the consuming side).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shotline.config import Settings
    from shotline.db import DispatchLog


class Queue(Protocol):
    def notify(self, task_id: str) -> None:
        """Called after the task row is committed."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def check(self) -> str:
        """"ok", or why the queue cannot be reached (for /readyz)."""


def make_queue(settings: Settings, dispatch: DispatchLog) -> Queue:
    if settings.queue == "celery":
        from shotline.queue.celery_queue import CeleryQueue

        return CeleryQueue(settings, dispatch)
    from shotline.queue.inprocess import InProcessQueue

    return InProcessQueue(settings)
