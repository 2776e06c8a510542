"""The sync SDK is made from the async one (scripts/make_sync_client.py, unasync): the committed
sync_client.py must be exactly what the async source makes, so the two halves cannot drift apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sync_client_is_generated_from_the_async_one() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sync_client.py"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_both_clients_offer_the_same_calls_with_the_same_docstrings() -> None:
    from shotline.client import AsyncShotline, AsyncTaskPage, AsyncVideos, Shotline, TaskPage, Videos

    for sync, asynchronous in ((Shotline, AsyncShotline), (Videos, AsyncVideos), (TaskPage, AsyncTaskPage)):
        public = {n for n in vars(sync) if not n.startswith("_")}
        assert public == {n for n in vars(asynchronous) if not n.startswith("_")}
        assert sync.__doc__ == asynchronous.__doc__
        for name in public:
            assert getattr(sync, name).__doc__ == getattr(asynchronous, name).__doc__, name
