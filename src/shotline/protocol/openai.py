"""The OpenAI video API's wire format (`/v1/videos`), as the official `openai` package sends and parses it.

Requests are lax where OpenAI's are: the official client sends `create` as multipart/form-data, so every
value arrives as a string (`seconds="8"`), and JSON clients send the same fields as JSON. What a field may
hold is still checked here, once, and a refusal names the field and the values that would work.

A create request becomes the Kling request of contract §1 (`to_task_request`), so both APIs share one
path for validation, engine checks, quotas and idempotency.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shotline.errors import APIError
from shotline.protocol.kling import (
    CFG_DEFAULT,
    DURATION_MAX_S,
    DURATION_MIN_S,
    PROMPT_MAX_CHARS,
    CreateTaskRequest,
    Extra,
)
from shotline.request import SEED_MAX
from shotline.validation import field_error

OPENAI_PREFIX = "/v1/"
# The official client posts `videos.create` as multipart/form-data; forms are accepted under OPENAI_PREFIX only.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

# One model, under its own name and the names OpenAI clients send by default: a client written for Sora
# works by changing only the base URL and key. Every name runs this server's engine.
CANONICAL_MODEL = "kling-v3.0-pro"
MODELS = (CANONICAL_MODEL, "sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06",
          "sora-2-2025-12-08")
DEFAULT_MODEL = "sora-2"  # what OpenAI assumes when `model` is omitted
DEFAULT_SECONDS = 4  # OpenAI's default clip length
DEFAULT_SIZE = "720x1280"  # OpenAI's default size (portrait)

# `size` picks the aspect ratio; the engine's preset picks the pixels (contract §4). A size is served when
# its width/height is within SIZE_TOLERANCE (relative) of one of the ratios: 1792x1024 (1.75) is 16:9
# (1.78), 1.6% off; 4:3 (1.33) is 25% off every ratio and refused.
SIZE_TOLERANCE = 0.05
SIZE_MIN_PX, SIZE_MAX_PX = 64, 4096
RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
# The size each ratio is reported as for tasks created through the Kling API (which have no `size`).
CANONICAL_SIZES = {"16:9": "1280x720", "9:16": "720x1280", "1:1": "1024x1024"}
EXAMPLE_SIZES = "1280x720, 1792x1024, 1920x1080 (16:9); 720x1280, 1024x1792 (9:16); 1024x1024 (1:1)"

_SIZE = re.compile(r"^\s*([0-9]{1,5})\s*[xX]\s*([0-9]{1,5})\s*$")
_SECONDS = re.compile(r"^\s*[0-9]{1,4}\s*$")

VideoStatus = Literal["queued", "in_progress", "completed", "failed"]  # shotline.status: TaskStatus.openai


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value[:40]}"'
    return text if len(text) <= 48 else text[:45] + "..."


def aspect_ratio_of(size: str) -> str | None:
    """The aspect ratio a `WxH` size is served as, or None if it is not within tolerance of any."""
    match = _SIZE.match(size)
    if not match:
        return None
    width, height = int(match[1]), int(match[2])
    if not (SIZE_MIN_PX <= width <= SIZE_MAX_PX and SIZE_MIN_PX <= height <= SIZE_MAX_PX):
        return None
    for name, ratio in RATIOS.items():
        if abs(math.log(width / height / ratio)) <= math.log1p(SIZE_TOLERANCE):
            return name
    return None


class VideoCreateRequest(BaseModel):
    """Body of `POST /v1/videos` (JSON or multipart/form-data). OpenAI's fields, plus Shotline's
    optional extensions (`sound`, `negative_prompt`, `cfg_scale`, `seed`), sent e.g. with `extra_body`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str = Field(min_length=1, max_length=PROMPT_MAX_CHARS, description="What the video shows; 1–2500 characters.")
    model: str = Field(DEFAULT_MODEL, description=f"One of {', '.join(MODELS)}; all run this server's engine.")
    seconds: int = Field(DEFAULT_SECONDS, description=f"Whole seconds, {DURATION_MIN_S}–{DURATION_MAX_S}, as a string "
                         "(OpenAI's form) or an integer. Default 4.")
    size: str = Field(DEFAULT_SIZE, description="`WIDTHxHEIGHT`; picks the aspect ratio (16:9, 9:16 or 1:1, within "
                      "5%); the engine's preset picks the pixels. Default 720x1280.")
    input_reference: Any = Field(None, description="Not supported: this server makes video from text only.")
    sound: bool | None = Field(None, description="Shotline: an audio track; default true where the engine can make "
                               "sound (as Sora's videos have), else false.")
    negative_prompt: str = Field("", max_length=PROMPT_MAX_CHARS, description="Shotline: what to avoid.")
    cfg_scale: float = Field(CFG_DEFAULT, ge=0, le=1, description="Shotline: 0–1, as in the Kling API.")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="Shotline: the same seed repeats the video.")

    @field_validator("model", mode="before")
    @classmethod
    def _known_model(cls, value: Any) -> Any:
        if value not in MODELS:
            raise field_error("model", f"must be one of {', '.join(MODELS)}, got {_show(value)}")
        return value

    @field_validator("seconds", mode="before")
    @classmethod
    def _whole_seconds(cls, value: Any) -> int:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and _SECONDS.match(value))
        if ok and DURATION_MIN_S <= int(value) <= DURATION_MAX_S:
            return int(value)
        raise field_error("seconds", f"must be whole seconds from {DURATION_MIN_S} to {DURATION_MAX_S}, as a "
                           f'string or an integer (e.g. "4", "8", "12"), got {_show(value)}')

    @field_validator("size", mode="before")
    @classmethod
    def _servable_size(cls, value: Any) -> str:
        if isinstance(value, str) and aspect_ratio_of(value) is not None:
            match = _SIZE.match(value)
            assert match is not None
            return f"{int(match[1])}x{int(match[2])}"
        raise field_error("size", f"must be WIDTHxHEIGHT ({SIZE_MIN_PX}–{SIZE_MAX_PX} px a side) within "
                           f"{SIZE_TOLERANCE:.0%} of 16:9, 9:16 or 1:1, e.g. {EXAMPLE_SIZES}; got {_show(value)}")

    @field_validator("input_reference", mode="before")
    @classmethod
    def _no_reference(cls, value: Any) -> Any:
        if value is not None:
            raise field_error("input_reference", "is not supported: this server makes video from text only; "
                               "send the request without it")
        return value

    @property
    def aspect_ratio(self) -> str:
        ratio = aspect_ratio_of(self.size)
        assert ratio is not None  # the validator admitted only servable sizes
        return ratio

    def to_task_request(self, *, sound_default: bool) -> CreateTaskRequest:
        return CreateTaskRequest(
            prompt=self.prompt,
            duration=self.seconds,
            aspect_ratio=self.aspect_ratio,  # type: ignore[arg-type]
            sound=self.sound if self.sound is not None else sound_default,
            negative_prompt=self.negative_prompt,
            cfg_scale=self.cfg_scale,
            extra=Extra(seed=self.seed) if self.seed is not None else None,
        )

    def meta(self) -> dict[str, str]:
        """What the task row keeps so the video can be described in OpenAI's terms later."""
        return {"api": "openai", "model": self.model, "size": self.size, "seconds": str(self.seconds)}


# -------------------------------------------------------------------------------------------- responses


class VideoError(BaseModel):
    code: str = Field(description="`generation_failed` or `canceled`.")
    message: str


class Video(BaseModel):
    """OpenAI's `Video` object. The id is the task id, the same in the Kling API."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: VideoStatus = Field(description="queued, in_progress, completed or failed (a canceled task is failed, "
                                "with error.code `canceled`).")
    progress: int = Field(ge=0, le=100)
    created_at: int = Field(description="Unix seconds.")
    completed_at: int | None = Field(None, description="Unix seconds, once completed or failed.")
    expires_at: int | None = Field(None, description="Always null: a video is kept until it is deleted.")
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    seconds: str
    size: str
    error: VideoError | None = None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


# ----------------------------------------------------------------------------------------------- errors

# OpenAI's `error.type` for each HTTP status this server answers with (openai-python dispatches on the
# status; `type` is what a person reads).
ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class OpenAIError(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, authentication_error, permission_error, "
                      "rate_limit_error or server_error.")
    param: str | None = Field(None, description="The request field at fault, where there is one.")
    code: str | None = Field(None, description="The Kling API's reason word, lower case (e.g. `rate_limited`).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Shotline: more about the error "
                                     "(e.g. a video's `status`, every field at fault under `errors`).")


class OpenAIErrorBody(BaseModel):
    """Every non-2xx answer under /v1/, in OpenAI's shape, so the official client's errors carry `param`."""

    error: OpenAIError


def openai_error_body(err: APIError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(err.status_code) or ("server_error" if err.status_code >= 500 else "invalid_request_error")
    metadata = {k: v for k, v in err.metadata.items() if k != "field"}
    return {"error": {"message": err.message, "type": kind, "param": err.field or err.metadata.get("field"), "code": err.reason.lower() or None,
                      "metadata": metadata}}
