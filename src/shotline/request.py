"""What a task asks for, in terms every layer shares: the normalized request.

Each API validates its own wire format (api/kling/protocol.py, api/openai/protocol.py) and turns it into a
`GenerationRequest`: every default applied, nothing API-specific left. The service plans and stores it, the
store keeps it with the task, the engines plan frames from it. Plain pydantic, no server code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

# The one task type this server runs, as the hosted API names it (the task row and the result carry it).
TASK_TYPE = "KLING_V3_PRO_T2V"

SEED_MAX = 2**32 - 1  # seeds are 0..SEED_MAX (what every engine's generator takes)

AspectRatio = Literal["16:9", "9:16", "1:1"]


class ShotRequest(BaseModel):
    prompt: str
    duration: int | None = None  # None: shares what is left equally (frame-exact, decided with the engine's fps)


class GenerationRequest(BaseModel):
    """A validated, normalized request. Stored with the task; the plan is made from it."""

    shots: list[ShotRequest]
    duration: int
    cfg_scale: float
    aspect_ratio: AspectRatio
    sound: bool
    negative_prompt: str
    seed: int | None = None  # what the client asked for; the task's `seed` column is the seed used
    webhook_url: str | None = None
    multi_shot: bool = False
