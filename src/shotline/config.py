"""Settings: one object, read from `SHOTLINE_*` environment variables (or a `.env` file), passed in.

Nothing imports a global settings instance: the CLI builds one and hands it to the app and the worker,
and tests build their own. The worker process gets a copy through `model_dump()`, so every field must
stay plain data.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shotline"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOTLINE_", env_file=".env", extra="ignore")

    # Where the embedded default keeps its database, results and signing secret.
    data_dir: Path = Field(default_factory=default_data_dir)
    # SQLAlchemy URL; empty means SQLite in `data_dir` (the embedded default).
    database_url: str = ""

    host: str = "127.0.0.1"
    port: int = 8000
    # Base of the URLs the server hands out (video_url); empty means "the address the client used".
    public_url: str = ""

    # Raw API keys accepted in addition to the ones in the database, comma-separated. Hashed on start.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Signs video URLs. Empty: a random secret is created once in `data_dir/secret.key`. API processes
    # behind one load balancer must share it.
    secret_key: SecretStr = SecretStr("")
    video_url_ttl_s: int = Field(3600, ge=60, le=7 * 24 * 3600)

    engine: str = "tiny"
    # Denoising steps; 0 means the engine's own default.
    steps: int = Field(0, ge=0, le=200)
    # CPU threads for torch in the worker (0: torch's default). Fixed per machine for repeatable output.
    torch_threads: int = Field(0, ge=0)

    queue: Literal["inprocess"] = "inprocess"
    storage: Literal["local"] = "local"
    # Run the worker as a child process of `shotline serve` (the embedded default).
    embedded_worker: bool = True

    # A task whose worker stopped this many times (crash, kill, restart) ends FAILED instead of requeued.
    max_attempts: int = Field(3, ge=1, le=20)
    # A worker renews its claim on a task every `heartbeat_s`; a claim older than `lease_s` is dead.
    lease_s: float = Field(30.0, gt=0)
    heartbeat_s: float = Field(2.0, gt=0)
    # How often an idle worker looks for queued tasks when nothing woke it.
    poll_s: float = Field(0.5, gt=0)

    max_body_bytes: int = Field(64 * 1024, ge=1024)
    log_level: str = "INFO"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'shotline.db'}"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def work_dir(self) -> Path:
        """Half-written files live here until they are complete, then move into `results_dir`."""
        return self.data_dir / "work"

    def signing_secret(self) -> bytes:
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Write aside, then link into place: two processes starting at once agree on one secret and
            # neither can read a half-written file.
            tmp = path.with_name(f".secret.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip().encode()
