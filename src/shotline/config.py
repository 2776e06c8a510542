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

    host: str = "127.0.0.1"  # address `shotline serve` binds; 0.0.0.0 for every interface (behind a proxy)
    port: int = 8000  # port `shotline serve` listens on
    # Base of the URLs the server hands out (video_url); empty means "the address the client used".
    public_url: str = ""

    # Raw API keys accepted in addition to the ones in the database, comma-separated. Hashed on start.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Signs video URLs. Empty: a random secret is created once in `data_dir/secret.key`. API processes
    # behind one load balancer must share it.
    secret_key: SecretStr = SecretStr("")
    video_url_ttl_s: int = Field(3600, ge=60, le=7 * 24 * 3600)  # how long a signed video_url works (60 s–7 days)

    engine: str = "tiny"  # tiny, ltx2, wan, or package.module:Class (docs/engines/)
    # Denoising steps; 0 means the engine's own default.
    steps: int = Field(0, ge=0, le=200)
    # CPU threads for torch in the worker (0: torch's default). Fixed per machine for repeatable output.
    torch_threads: int = Field(0, ge=0)

    # Real-weights engines (ltx2, wan; docs/engines/). Weights: a local directory in diffusers format, or a
    # Hugging Face repo id already in the local cache. The server never downloads them.
    model: str = ""
    # wan's text-to-audio pipeline (StableAudio) for sound=true; empty: wan serves sound=false only.
    audio_model: str = ""
    # Branch, tag or commit of `model` when it is a cached repo id; empty: the cached main.
    model_revision: str = ""
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on a GPU, fp32 on a CPU
    device: str = "auto"  # auto: cuda when there is one, else cpu; or e.g. cuda:1
    # The recipe (docs/engines/): auto (what the weights support best: ltx2 distilled weights -> fast, a
    # distilled LoRA and upsampler -> standard, else max; wan with SHOTLINE_DISTILL_LORA -> fast), fast
    # (distilled, no guidance pass), standard (ltx2: guided half-size stage + distilled refine), max (one guided
    # full-size stage), draft (max with half the steps).
    quality: Literal["auto", "fast", "standard", "max", "draft"] = "auto"
    # ltx2: the distilled LoRA for stage 2 (empty: the *distilled-lora*.safetensors in the model folder);
    # wan: the step-distilled LoRA of `fast` (LightX2V / Lightning), and `_2` for Wan 2.2 A14B's low-noise expert.
    distill_lora: str = ""
    distill_lora_2: str = ""
    # ltx2: the x2 latent upsampler folder of two-stage recipes (empty: latent_upsampler/ in the model folder).
    latent_upsampler: str = ""
    # Resolution table of the engine (ltx2: 720p, 1080p, 540p, test; wan: 480p, 720p, ti2v-720p, test); empty:
    # its first (wan: ti2v-720p for TI2V-5B weights).
    preset: str = ""
    # Memory, for cards the model does not fit whole (docs/engines/ltx2.md has the figures). text-encoder:
    # the text encoder waits in RAM and visits the GPU only to encode prompts; model: every component
    # waits in RAM and visits in turn; group: layer by layer, prefetched on a side stream (least memory).
    offload: Literal["none", "text-encoder", "model", "group"] = "none"
    vae_tiling: bool = False  # decode the video in tiles: less peak memory for long or large clips
    quantize: Literal["none", "int8", "fp8"] = "none"  # the transformer's weights through torchao
    # Wan only: skip transformer work on steps that change little (off by default; costs some detail).
    step_cache: Literal["none", "first-block", "pyramid"] = "none"
    step_cache_threshold: float = Field(0.05, gt=0, le=1)  # step_cache: higher skips more steps (faster, less detail)
    audio_steps: int = Field(0, ge=0, le=500)  # text-to-audio steps; 0: 100, or 50 for fast and draft
    # Speed, for GPUs (docs/performance.md). compile: torch.compile the transformer's repeated block
    # (regional compilation: the first shot of each new size pays a compile of tens of seconds, later ones
    # run faster). attention_backend: diffusers' attention kernel for the transformer; empty lets PyTorch's
    # scaled_dot_product_attention choose (flash or memory-efficient on CUDA). flash, _flash_3 and sage
    # need their packages installed; nothing is downloaded.
    compile: bool = False
    attention_backend: Literal["", "native", "_native_cudnn", "_native_flash", "_native_efficient", "_native_math",
                               "flash", "_flash_3", "sage"] = ""

    # inprocess: `shotline serve` runs its own worker. celery: workers are `shotline worker` processes fed
    # through the broker (one per GPU, on any machine that reaches the database, broker and storage).
    queue: Literal["inprocess", "celery"] = "inprocess"
    broker_url: str = "redis://127.0.0.1:6379/0"  # the Celery broker (queue=celery)
    celery_queue: str = "shotline"  # the Celery queue's name; deployments sharing one broker need their own
    # Redis redelivers an unacknowledged message after this long; it must exceed the longest task. A lost
    # or late message is harmless either way: the task row decides who runs what.
    visibility_timeout_s: int = Field(4 * 3600, ge=60)
    # A QUEUED task whose dispatch message may have been lost (API crash after commit, broker restart) is
    # sent again after this long.
    redispatch_s: float = Field(10.0, gt=0)

    # Retention: a finished video is deleted this long after its task ended (its task then answers SUCCEED
    # with no video and says why); the task row itself, this long after it ended (then 404). `shotline gc`
    # runs it by hand; workers run it every `gc_interval_s` (0: never).
    result_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    task_ttl_s: int = Field(30 * 24 * 3600, ge=1)
    gc_interval_s: float = Field(3600.0, ge=0)

    storage: Literal["local", "s3"] = "local"  # where videos and shot checkpoints go: data_dir, or an S3 bucket
    s3_bucket: str = ""  # the bucket (storage=s3); create it before the first task
    s3_endpoint_url: str = ""  # empty: AWS; set for MinIO or another S3-compatible store
    s3_region: str = "us-east-1"  # region for AWS (ignored by most S3-compatible stores)
    s3_prefix: str = "shotline/"  # key prefix of every object Shotline writes in the bucket

    # Tasks one key may have waiting or running at once; past it, a create is a 429 with Retry-After. A key's
    # own `--max-queued` wins over it.
    max_queued_per_key: int = Field(50, ge=1)
    # Creates per key, e.g. "60/min", "5/s", "500/h"; empty or 0: no limit. A key's own `--rate` wins over
    # it. `request_rate_limit` bounds every authenticated request of a key (polling included) the same way.
    rate_limit: str = ""
    request_rate_limit: str = ""
    # Where rate-limit counts live: empty means Redis at `broker_url` with the celery queue (shared by every
    # API process), this process's memory otherwise; or an explicit `memory://` / `redis://host:port/db`.
    rate_limit_storage: str = ""
    # GET /metrics (Prometheus text format). It needs no key: it shows counts and timings, never keys or
    # prompts. Turn it off where the port is reachable by people who should not see them.
    metrics: bool = True
    # Run the worker as a child process of `shotline serve` (the embedded default).
    embedded_worker: bool = True

    # A task whose worker stopped this many times (crash, kill, restart) ends FAILED instead of requeued.
    max_attempts: int = Field(3, ge=1, le=20)
    # A worker renews its claim on a task every `heartbeat_s`; a claim older than `lease_s` is dead.
    lease_s: float = Field(30.0, gt=0)
    heartbeat_s: float = Field(2.0, gt=0)
    # How often an idle worker looks for queued tasks when nothing woke it.
    poll_s: float = Field(0.5, gt=0)

    # Webhooks (`extra.webhook.url`). URLs whose host is loopback, private, link-local or reserved are refused
    # (at submit and again at send time) unless this is true: a server must not be steered at its own network.
    webhook_allow_private: bool = False
    # Seconds to wait after each failed delivery attempt before the next; after the last, the delivery is
    # given up. The default (Svix's) covers about 28 hours; tests shorten it.
    webhook_retry_schedule_s: Annotated[list[Annotated[float, Field(ge=0)]], NoDecode] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 36000])
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)  # per attempt: a slow receiver only delays itself
    webhook_poll_s: float = Field(1.0, gt=0)  # how often the sender looks for due deliveries

    max_body_bytes: int = Field(64 * 1024, ge=1024)  # a larger request body is a 413
    # How long an idle keep-alive connection stays open. Longer than clients keep theirs (httpx: 5 s), so
    # a client never sends on a connection the server is closing at that moment (with uvicorn's 5 s default
    # the two expire together and a POST can fail with a reset; seen in the 1000-submit test).
    keep_alive_s: float = Field(30.0, ge=1, le=3600)
    # Deepest nesting of arrays/objects a JSON body may have (the request models need 3).
    max_json_depth: int = Field(32, ge=4, le=256)
    # A request body must arrive whole within this long (a slow client gets 408, not a held thread).
    body_timeout_s: float = Field(30.0, gt=0)
    # The API process's GIL switch interval. Request handlers run in a thread pool and wait on the
    # database many times per request; with Python's default 5 ms, each wait can cost a full interval
    # behind busy threads (measured: submit p99 713 ms at 200 req/s on PostgreSQL; 0.5 ms: under 25 ms).
    api_switch_interval_s: float = Field(0.0005, gt=0, le=0.1)
    log_level: str = "INFO"  # DEBUG, INFO, WARNING or ERROR; prompts and keys are logged at DEBUG only
    # json: one JSON object per line (ts, level, logger, message, request_id, task_id); text: one line a
    # person reads; auto: text when stderr is a terminal, json otherwise (a service manager, a pipe, a file).
    log_format: Literal["auto", "json", "text"] = "auto"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [float(v) for v in value.split(",") if v.strip()]
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
