"""Per-key rate limits, counted with the `limits` library.

Two limits, because two kinds of request cost different things:

- creates (`rate_limit`, or the key's own rate): each one is minutes of GPU time, so this is the limit that
  matters; a refused create is a 429 and queues nothing.
- every authenticated request (`request_rate_limit`, off by default): polling is cheap, but a client that
  polls in a tight loop still costs a database query each time; this bounds it per key.

Moving window (not fixed window): a fixed window lets a client send twice its rate across a window
boundary (N at 0:59, N more at 1:00); the moving window counts the last full period at any instant, so
"60/minute" never admits more than 60 creates in any 60 seconds. It stores one timestamp per admitted request
within the window, which is small at the rates a GPU server serves.

Counts live in Redis when the deployment has one (the celery queue: every API process behind the load
balancer shares the same counts), in this process's memory otherwise (the embedded server is one process).
If Redis cannot be reached, requests are let through with a warning: the limit is protection, and the queue
quota (checked in the database) still bounds what a key can have waiting.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from shotline.config import Settings
from shotline.errors import RateLimited

log = logging.getLogger("shotline.ratelimit")

_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*([a-z]+)\s*$", re.IGNORECASE)
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "second"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minute"),
    **dict.fromkeys(("h", "hr", "hour", "hours"), "hour"),
    **dict.fromkeys(("d", "day", "days"), "day"),
}


def normalize_rate(text: str | None) -> str | None:
    """"60/min", "5/s", "100 per hour" → "60/minute", "5/second", "100/hour". None for "", "0" or "0/…"
    (no limit). ValueError for anything else, with a message a person can act on."""
    if text is None or not text.strip() or text.strip() == "0":
        return None
    match = _RATE.match(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"rate {text!r}: write it as N/s, N/min or N/h (e.g. 60/min); 0 means no limit")
    count = int(match.group(1))
    return None if count == 0 else f"{count}/{unit}"


def _item(rate: str | None) -> RateLimitItem | None:
    normalized = normalize_rate(rate)
    return parse(normalized) if normalized else None


@dataclass(frozen=True)
class KeyLimits:
    """What one key may do: its rate of creates (None: the server's default) and its queue quota."""

    rate: str | None = None
    max_queued: int | None = None


def storage_for(settings: Settings) -> Storage:
    url = settings.rate_limit_storage
    if not url and settings.queue == "celery" and settings.broker_url.startswith(("redis://", "rediss://")):
        url = settings.broker_url
    if not url or url.startswith("memory://"):
        return MemoryStorage()
    # The prefix keeps deployments (and test runs) that share one Redis apart; the celery queue name is what
    # the API processes and workers of one deployment already agree on.
    return storage_from_string(url, key_prefix=f"shotline:{settings.celery_queue}:ratelimit",
                               socket_connect_timeout=2, socket_timeout=2)


class RateLimiter:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.default_create = _item(settings.rate_limit)
        self.requests = _item(settings.request_rate_limit)
        self.storage = storage or storage_for(settings)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def check_request(self, key_id: str) -> None:
        """Count one authenticated request of `key_id`; RateLimited past `request_rate_limit`."""
        if self.requests is not None:
            self._hit("request", self.requests, key_id, "requests")

    def check_create(self, key_id: str, key_rate: str | None) -> None:
        """Count one create of `key_id` against its own rate, or the server's default; RateLimited past it."""
        item = _item(key_rate) if key_rate else self.default_create
        if item is not None:
            self._hit("create", item, key_id, "task creations")

    def _hit(self, kind: str, item: RateLimitItem, key_id: str, what: str) -> None:
        try:
            if self.limiter.hit(item, kind, key_id):
                return
            reset_at = self.limiter.get_window_stats(item, kind, key_id).reset_time
        except Exception as err:
            log.warning("rate limit store unreachable (%s); letting the request through", type(err).__name__)
            return
        wait = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"this key is limited to {item.amount} {what} per {_period(item)}; retry after {wait} s",
            headers={"Retry-After": str(wait)},
            metadata={"limit": f"{item.amount}/{_period(item)}", "retry_after_s": wait},
        )


def _period(item: RateLimitItem) -> str:
    return item.GRANULARITY.name if item.multiples == 1 else f"{item.multiples} {item.GRANULARITY.name}s"
