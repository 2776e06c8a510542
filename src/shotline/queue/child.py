"""Entry point of the embedded worker process (`python -m shotline.queue.child`); see inprocess.py."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from shotline.config import Settings
from shotline.logs import setup_logging

log = logging.getLogger("shotline.worker")


def main() -> None:
    stdin = sys.stdin.buffer
    settings = Settings.model_validate_json(stdin.readline())
    setup_logging(settings.log_level, settings.log_format)

    from shotline.worker import Worker

    worker = Worker(settings)

    def on_term(_sig: int, _frame: Any) -> None:
        worker.stopping.set()
        worker.wake.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server decides

    def read_wakeups() -> None:
        while True:
            try:
                data = os.read(stdin.fileno(), 4096)
            except OSError:
                data = b""
            if not data:
                # The server is gone (even kill -9 closes the pipe). Nobody would supervise us: stop now;
                # the next server's worker sees this process gone and requeues our task.
                log.error("server process is gone; worker exiting")
                os._exit(3)
            worker.wake.set()

    threading.Thread(target=read_wakeups, name="shotline-wake", daemon=True).start()
    worker.start_heartbeat()
    worker.load()
    worker.run_forever()


if __name__ == "__main__":
    main()
