"""The Kling API's wire format: pydantic models shared by the server (validation, OpenAPI) and the SDK.

Validation is strict on purpose: `"duration": "5"` or `5.0` is refused rather than coerced, because a
client that sends the wrong type has a bug it should hear about (contract §1: type errors are a 400).
Every limit lives here once, as a constant, so the OpenAPI document, the error messages and the tests
all read the same numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from shotline.request import SEED_MAX, TASK_TYPE, AspectRatio, GenerationRequest, ShotRequest
from shotline.status import TaskStatus
from shotline.validation import field_error

PROMPT_MAX_CHARS = 2500
DURATION_MIN_S = 3
DURATION_MAX_S = 15
DURATION_DEFAULT_S = 5
SHOTS_MIN = 1
SHOTS_MAX = 6
SHOT_MIN_S = 1
CFG_DEFAULT = 0.5
ASPECT_RATIOS = ("16:9", "9:16", "1:1")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


# ---------------------------------------------------------------------------------------------- requests


class Shot(_Strict):
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX_CHARS, description="What this shot shows and sounds like.")
    duration: StrictInt | None = Field(
        None, ge=SHOT_MIN_S, description="Seconds; shots without one share what is left of `duration` equally."
    )
    index: StrictInt | None = Field(None, ge=1, description="1-based position; must match the shot's place in the list.")


class Webhook(_Strict):
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://", description="http(s) URL to POST to.")


class Extra(_Strict):
    seed: StrictInt | None = Field(None, ge=0, le=SEED_MAX, description="Seed; the same request and seed repeat the video.")
    webhook: Webhook | None = None


class CreateTaskRequest(_Strict):
    """Body of `POST /v3/async/kling-v3.0-pro-t2v`, as the hosted API accepts it (plus `extra`)."""

    prompt: str | None = Field(
        None, max_length=PROMPT_MAX_CHARS, description="Required unless `multi_prompt` is given; 0–2500 characters."
    )
    multi_prompt: list[Shot] | None = Field(
        None, min_length=SHOTS_MIN, max_length=SHOTS_MAX, description="1–6 shots; mutually exclusive with `prompt`."
    )
    duration: StrictInt | None = Field(
        None, ge=DURATION_MIN_S, le=DURATION_MAX_S, description="Seconds, 3–15; default 5, or the sum of the shots."
    )
    cfg_scale: float = Field(CFG_DEFAULT, ge=0, le=1, description="0–1; higher follows the prompt more closely.")
    aspect_ratio: AspectRatio = "16:9"
    sound: bool = Field(False, description="Generate an audio track with the video.")
    negative_prompt: str = Field("", max_length=PROMPT_MAX_CHARS, description="What to avoid in picture and sound.")
    extra: Extra | None = None

    @model_validator(mode="after")
    def _prompt_or_shots(self) -> CreateTaskRequest:
        has_prompt = bool(self.prompt)
        if has_prompt and self.multi_prompt is not None:
            raise field_error("multi_prompt", "give either `prompt` or `multi_prompt`, not both")
        if not has_prompt and self.multi_prompt is None:
            raise field_error(
                "prompt", f"is required (1–{PROMPT_MAX_CHARS} characters) unless `multi_prompt` is given"
            )
        if self.multi_prompt is not None:
            self._check_shots(self.multi_prompt)
        return self

    def _check_shots(self, shots: list[Shot]) -> None:
        for i, shot in enumerate(shots):
            if shot.index is not None and shot.index != i + 1:
                raise field_error(
                    f"multi_prompt[{i}].index", f"must be {i + 1} (shots are listed in order, 1-based), got {shot.index}"
                )
        given = sum(s.duration for s in shots if s.duration is not None)
        open_shots = sum(1 for s in shots if s.duration is None)
        if open_shots == 0:
            if self.duration is not None and given != self.duration:
                raise field_error(
                    "multi_prompt",
                    f"shot durations add up to {given} s but `duration` is {self.duration} s; make them equal",
                )
            total = given
        else:
            total = self.duration if self.duration is not None else DURATION_DEFAULT_S
            left = total - given
            if left < open_shots * SHOT_MIN_S:
                raise field_error(
                    "multi_prompt",
                    f"{left} s of the {total} s total is left for {open_shots} shot(s) without a duration; "
                    f"each shot needs at least {SHOT_MIN_S} s",
                )
        if not DURATION_MIN_S <= total <= DURATION_MAX_S:
            raise field_error(
                "multi_prompt",
                f"shots add up to {total} s; the total must be between {DURATION_MIN_S} and {DURATION_MAX_S} s",
            )

    def normalized(self) -> GenerationRequest:
        """The request with every default applied, in the terms every layer below the API shares."""
        if self.multi_prompt is not None:
            given = sum(s.duration or 0 for s in self.multi_prompt)
            if all(s.duration is not None for s in self.multi_prompt) and self.duration is None:
                total = given
            else:
                total = self.duration if self.duration is not None else DURATION_DEFAULT_S
            shots = [ShotRequest(prompt=s.prompt, duration=s.duration) for s in self.multi_prompt]
        else:
            total = self.duration if self.duration is not None else DURATION_DEFAULT_S
            shots = [ShotRequest(prompt=self.prompt or "", duration=total)]
        return GenerationRequest(
            shots=shots,
            duration=total,
            cfg_scale=self.cfg_scale,
            aspect_ratio=self.aspect_ratio,
            sound=self.sound,
            negative_prompt=self.negative_prompt,
            seed=self.extra.seed if self.extra else None,
            webhook_url=self.extra.webhook.url if self.extra and self.extra.webhook else None,
            multi_shot=self.multi_prompt is not None,
        )


# --------------------------------------------------------------------------------------------- responses


class CreateTaskResponse(BaseModel):
    task_id: str


class TaskInfo(BaseModel):
    task_id: str
    task_type: str = TASK_TYPE
    status: TaskStatus
    reason: str = ""
    eta: int = Field(0, description="Seconds until the result is expected; an estimate.")
    progress_percent: int = Field(0, ge=0, le=100, description="Never decreases.")


class VideoItem(BaseModel):
    video_url: str
    video_url_ttl: str = Field(description="Seconds the URL stays valid, as a string (as the hosted API sends it).")
    video_type: str = "mp4"


class DebugInfo(BaseModel):
    submit_time_ms: str = ""
    execute_time_ms: str = ""
    complete_time_ms: str = ""


class ResultExtra(BaseModel):
    model_config = ConfigDict(extra="allow")  # room for engine labels such as the tiny engine's notice

    seed: str = ""
    debug_info: DebugInfo = Field(default_factory=DebugInfo)


class TaskResultResponse(BaseModel):
    task: TaskInfo
    videos: list[VideoItem] = Field(default_factory=list)
    audios: list[dict[str, Any]] = Field(default_factory=list)
    images: list[dict[str, Any]] = Field(default_factory=list)
    extra: ResultExtra = Field(default_factory=ResultExtra)


class TaskListResponse(BaseModel):
    """`GET /v3/async/tasks`: the key's tasks, newest first, each as its task-result body."""

    tasks: list[TaskResultResponse]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class ErrorBody(BaseModel):
    """The one error shape (contract §5) for every non-2xx answer."""

    code: int
    reason: Annotated[
        str,
        Field(
            description="INVALID_REQUEST_BODY, UNAUTHORIZED, NOT_FOUND, CONFLICT, RATE_LIMITED, PAYLOAD_TOO_LARGE, "
            "UNSUPPORTED_MEDIA_TYPE, SERVICE_UNAVAILABLE or INTERNAL_ERROR"
        ),
    ]
    message: str
    metadata: dict[str, Any] = Field(default_factory=dict)
