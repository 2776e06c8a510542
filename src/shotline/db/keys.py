"""API keys: stored as sha256 hashes, looked up on every request (so a revocation holds at once)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from shotline.db.connect import now_ms
from shotline.db.models import ApiKey

KEY_PREFIX = "sk-shotline-"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def key_id_for(raw: str) -> str:
    """A stable, non-secret handle for a key (safe in logs and task rows)."""
    return "key_" + hashlib.sha256(b"shotline-key-id:" + raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    source: str
    created_at_ms: int
    revoked: bool
    rate_per_min: int | None = None  # None: the server's default
    max_queued: int | None = None
    rate_limit: str | None = None  # "N/second|minute|hour|day"; wins over rate_per_min

    @property
    def rate(self) -> str | None:
        """The key's own rate of creates, or None for the server's default."""
        if self.rate_limit:
            return self.rate_limit
        return f"{self.rate_per_min}/minute" if self.rate_per_min else None


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class KeyStore:
    def __init__(self, db: Engine) -> None:
        self._session = sessionmaker(db, expire_on_commit=False)

    def create(self, name: str = "", *, rate_per_min: int | None = None, max_queued: int | None = None,
               rate: str | None = None) -> tuple[KeyInfo, str]:
        """Make a new key; the raw key is returned once and never stored. `rate` is a normalized rate
        ("60/minute", see shotline.ratelimit.normalize_rate)."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        info = self._insert(raw, name, "db", rate_per_min=rate_per_min, max_queued=max_queued,
                            rate_limit=rate)
        return info, raw

    def get(self, key_id: str) -> KeyInfo | None:
        with self._session() as s:
            row = s.get(ApiKey, key_id)
            return _info(row) if row else None

    def webhook_secret(self, key_id: str, *, env_key: bool = False) -> str | None:
        """The key's webhook signing secret (made on first use for keys created before webhooks). `env_key`:
        the id is a key from SHOTLINE_API_KEYS, which has no row until its secret is first needed."""
        with self._session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                return self._insert_env_key(key_id) if env_key else None
            if row.webhook_secret is None:
                s.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.webhook_secret.is_(None))
                          .values(webhook_secret=new_webhook_secret()))
                s.commit()
                s.refresh(row)
            return row.webhook_secret

    def rotate_webhook_secret(self, key_id: str) -> str | None:
        secret = new_webhook_secret()
        with self._session() as s:
            n = s.execute(update(ApiKey).where(ApiKey.id == key_id).values(webhook_secret=secret)).rowcount
            s.commit()
        return secret if n == 1 else None

    def _insert_env_key(self, key_id: str) -> str | None:
        # A configured key is never stored, but its webhook secret must be: every API process signs with
        # the same one, and it survives restarts. The row's hash is not a sha256 digest, so it can never
        # authenticate a request: removing the key from the configuration still revokes it.
        row = ApiKey(id=key_id, name="SHOTLINE_API_KEYS", key_hash=f"env:{key_id}", source="env",
                     created_at_ms=now_ms(), webhook_secret=new_webhook_secret())
        with self._session() as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError:  # another process made it first: use theirs
                s.rollback()
        return self.webhook_secret(key_id)

    def _insert(self, raw: str, name: str, source: str, **limits: int | str | None) -> KeyInfo:
        row = ApiKey(
            id=key_id_for(raw), name=name, key_hash=hash_key(raw), source=source, created_at_ms=now_ms(),
            webhook_secret=new_webhook_secret(), **limits,
        )
        with self._session() as s:
            s.add(row)
            s.commit()
        return _info(row)

    def verify(self, raw: str) -> str | None:
        """The key's id if `raw` is a live key, else None."""
        info = self.lookup(raw)
        return info.id if info else None

    def lookup(self, raw: str) -> KeyInfo | None:
        """The live key `raw`, with its limits, else None. Nothing is cached across requests: a revocation
        holds for the very next request, on every API process.

        Why this is timing-safe without `compare_digest`: the database compares sha256(raw) with stored
        digests, never the raw key. How long that comparison (or the index walk) takes can at most tell an
        attacker how many leading hex digits of *their guess's digest* match some stored digest, and
        steering a digest's prefix is a preimage search on sha256: the leak cannot be walked byte by byte
        towards a key, as a plain `==` on raw keys could. Config keys are found the same way (a dict keyed
        by digest, service.authenticate). Keys are 256-bit random, so the digest needs no salt."""
        with self._session() as s:
            row = s.scalars(
                select(ApiKey).where(ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at_ms.is_(None))
            ).first()
            return _info(row) if row else None

    def list(self) -> list[KeyInfo]:
        with self._session() as s:
            return [_info(r) for r in s.scalars(select(ApiKey).order_by(ApiKey.created_at_ms)).all()]

    def revoke(self, key_id: str) -> bool:
        with self._session() as s:
            n = s.execute(
                update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at_ms.is_(None)).values(revoked_at_ms=now_ms())
            ).rowcount
            s.commit()
            return n == 1

    def count_live(self) -> int:
        with self._session() as s:
            return len(s.scalars(select(ApiKey.id).where(ApiKey.revoked_at_ms.is_(None),
                                                         ApiKey.source == "db")).all())


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.source, row.created_at_ms, row.revoked_at_ms is not None,
                   row.rate_per_min, row.max_queued, row.rate_limit)
