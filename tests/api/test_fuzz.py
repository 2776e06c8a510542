"""Schemathesis against the app's own `/openapi.json`, in process: every operation the document lists
(both APIs, whatever routes exist), valid and invalid inputs, with a valid key. Two checks: no 5xx
(contract §5: a 500 is a bug) and every answer conforms to the schema the document declares for its
status (so every error status is declared, with the ErrorBody shape).

The seed is fixed and generation deterministic, so CI replays the same cases. A longer pass by hand:
`SHOTLINE_FUZZ_EXAMPLES=500 SHOTLINE_FUZZ_SEED=<n> pytest tests/api/test_fuzz.py`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from shotline.api.app import create_app
from shotline.config import Settings
from tests.helpers.server import KEY_A, KEY_B

EXAMPLES = int(os.environ.get("SHOTLINE_FUZZ_EXAMPLES", "60"))
SEED = int(os.environ.get("SHOTLINE_FUZZ_SEED", "20261125"))


@schemathesis.check
def no_server_error(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                    case: schemathesis.Case) -> bool | None:
    """Any 5xx is a bug, except /readyz saying "not ready" (its job; this app runs no worker)."""
    if case.path == "/readyz" and response.status_code == 503:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, response_schema_conformance, status_code_conformance]


def _app():
    # One app for the module, on the embedded backend (SQLite, local files), with no worker: the fuzzer
    # exercises the HTTP layer, not generation.
    import atexit
    import shutil
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="shotline-fuzz-")) / "data"
    atexit.register(shutil.rmtree, data.parent, True)
    settings = Settings(data_dir=data, api_keys=[KEY_A, KEY_B], embedded_worker=False, _env_file=None,
                        max_queued_per_key=10_000)
    return create_app(settings)


APP = _app()
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "headers": {"Authorization": f"Bearer {KEY_A}"},
    "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none", "mode": "all"},
    "phases": {"stateful": {"enabled": False}},
})
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


def test_the_document_lists_every_route() -> None:
    """The fuzzer covers what the document lists; make sure it lists every public route."""
    documented = set(schema.raw_schema["paths"])
    for path in ("/v3/async/kling-v3.0-pro-t2v", "/v3/async/task-result", "/v3/async/tasks",
                 "/v3/async/tasks/{task_id}/cancel", "/v3/files/{task_id}/video.mp4", "/healthz", "/readyz"):
        assert path in documented, path


SEEN: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    by_status = Counter()
    for (_op, status), n in SEEN.items():
        by_status[status] += n
    print("\nFUZZ", json.dumps({"seed": SEED, "max_examples": EXAMPLES, "requests": sum(SEEN.values()),
                               "operations": len({op for op, _ in SEEN}), "by_status": dict(sorted(by_status.items()))}))


@schema.parametrize()
@pytest.mark.timeout(600)
def test_api_never_errors_and_answers_as_documented(case: schemathesis.Case) -> None:
    response = case.call()
    SEEN[(case.operation.label, response.status_code)] += 1
    case.validate_response(response, checks=CHECKS)
