"""The plan made at submit, as the task row keeps it (`tasks.plan_json`): planned once, run by the worker.

The API plans a request against the engine's spec to refuse what the engine cannot do; that plan is stored
with the task and the worker runs it, so the two never disagree about frames, sizes, guidance or seeds.

A plan is a frozen dataclass of plain data (engines/base.py: `GenerationPlan` and its `ShotPlan`s, and
whatever nested dataclasses a recipe adds). pydantic's TypeAdapter turns any such dataclass into JSON and
back, nested ones and tuples included, so nothing here lists a plan's fields: a field added to the plan is
stored without a change here. What a stored plan was written by is `PLAN_VERSION`: bump it when a plan's
meaning changes in a way the fields alone do not show. A plan from another version, one that no longer
decodes (a field was added or renamed since it was stored), or one made for an engine set up differently
from the worker's, is not run: the worker plans the task again from its request, as it did before plans
were stored (`load_plan` returns None).
"""

from __future__ import annotations

import functools
import json
import logging

from pydantic import TypeAdapter, ValidationError

from shotline.engines.base import EngineSpec, GenerationPlan

log = logging.getLogger("shotline.plans")

PLAN_VERSION = 1


@functools.cache
def _adapter() -> TypeAdapter[GenerationPlan]:
    return TypeAdapter(GenerationPlan)


def dump_plan(plan: GenerationPlan) -> str:
    return json.dumps({"version": PLAN_VERSION, "plan": _adapter().dump_python(plan, mode="json")},
                      separators=(",", ":"))


def load_plan(text: str | None, spec: EngineSpec) -> GenerationPlan | None:
    """The stored plan, if this worker can run it as it is; None to plan again."""
    if not text:
        return None
    try:
        stored = json.loads(text)
        if not isinstance(stored, dict) or stored.get("version") != PLAN_VERSION:
            log.info("stored plan is version %s, this server writes %s: planning again",
                     stored.get("version") if isinstance(stored, dict) else "?", PLAN_VERSION)
            return None
        plan = _adapter().validate_python(stored["plan"])
    except (ValueError, KeyError, TypeError, ValidationError) as err:
        log.warning("stored plan does not decode (%s): planning again", type(err).__name__)
        return None
    if (plan.engine, plan.fps, plan.recipe) != (spec.name, spec.fps, spec.recipe.name) or \
            spec.resolutions.get(plan.aspect_ratio) != (plan.width, plan.height):
        # The worker runs what it loaded: an API server set up differently (another SHOTLINE_QUALITY or
        # preset, or one that could not read the weights to pick the recipe) must not fail the task.
        log.info("stored plan was made for %s (%s) at %dx%d, %d fps; this worker runs %s (%s): planning again",
                 plan.engine, plan.recipe, plan.width, plan.height, plan.fps, spec.name, spec.recipe.name)
        return None
    return plan
