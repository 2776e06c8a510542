"""The bar `shotline generate` shows: one phase at a time (loading engine, queued, generating shot k of n and
its step, encoding, saving), and a line above the bar as each phase ends, so a wait is never a silent
"queued 0 %"."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from shotline.cli.remote import Exit, err, fail

READY_POLL_S = 0.2


@dataclass
class Phases:
    """What the CLI knows of the request, to turn the server's percent into a shot and a step. The worker
    counts `steps + 1` units per shot (each step, then the shot's encoding) and reports 99 % when all are done
    (worker.Progress); `steps` is known for the embedded engine only."""

    shots: int = 1
    steps: int | None = None

    def of(self, result: Any) -> tuple[str, str]:
        status = str(result.task.status.value).removeprefix("TASK_STATUS_").lower()
        labels = result.extra.model_extra or {}
        if status == "queued":
            ahead = int(labels.get("tasks_ahead") or 0)
            return "queued", f"{ahead} ahead" if ahead else ""
        if status != "processing":
            return status, ""
        percent, n = result.task.progress_percent, self.shots
        if percent >= 99:
            return "encoding", ""
        if not self.steps:
            return "generating", f"shot {min(n, percent * n // 99 + 1)}/{n}"
        # The fewest whole units that give this percent (exact while a shot has fewer than 99 units).
        units = math.ceil(percent * n * (self.steps + 1) / 99 - 1e-9)
        shot = min(n - 1, int(units // (self.steps + 1)))
        within = units - shot * (self.steps + 1)
        if within >= self.steps:
            return "encoding", f"shot {shot + 1}/{n}"
        return "generating", f"shot {shot + 1}/{n} · step {min(self.steps, int(within) + 1)}/{self.steps}"


class Display:
    """A rich Progress on stderr; `phase()` switches the description and prints the phase that ended."""

    def __init__(self, phases: Phases) -> None:
        self.phases = phases
        columns = (TextColumn("{task.description:<34}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[eta]}"))
        self.bar = Progress(*columns, console=err, transient=False)
        self.row = self.bar.add_task("submitting", total=100, eta="", start=True)
        self.current: str | None = None
        self.since = time.monotonic()

    def __enter__(self) -> Display:
        self.bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.bar.stop()

    def phase(self, name: str, detail: str = "", **update: Any) -> None:
        if name != self.current:
            if self.current is not None:
                self.bar.console.print(f"[green]✓[/green] {self.current} [dim]{time.monotonic() - self.since:.1f} s"
                                       "[/dim]", highlight=False)
            self.current, self.since = name, time.monotonic()
        self.bar.update(self.row, description=f"{name} {detail}".strip(), **update)

    def __call__(self, result: Any) -> None:
        """The SDK's on_progress: one task-result body."""
        if result.task.status.is_terminal:  # what comes next (saving, or the error) is the next phase
            self.bar.update(self.row, completed=result.task.progress_percent, eta="")
            return
        name, detail = self.phases.of(result)
        eta = f"eta {result.task.eta} s" if result.task.eta else ""
        self.phase(name, detail, completed=result.task.progress_percent, eta=eta)

    def stop(self) -> None:
        self.bar.stop()

    def done(self) -> None:
        self.phase("saved", completed=100, eta="")


def wait_for_engine(base_url: str, engine: str, display: Display, log_path: Path) -> None:
    """The embedded worker loads its engine before it takes a task: show that phase, and stop with the
    worker's own reason (exit 6) if it cannot load, instead of queueing a task that would fail."""
    import httpx

    display.phase(f"loading engine {engine}", total=None)
    while True:
        try:
            checks = httpx.get(base_url + "/readyz", timeout=10).json().get("checks", {})
        except (httpx.HTTPError, ValueError):
            checks = {}
        worker = str(checks.get("worker", ""))
        if worker == "ok":
            display.bar.update(display.row, total=100, completed=0)
            return
        if "failed" in worker:
            display.stop()
            reason = worker.removeprefix("loading:").strip().removeprefix("failed").strip()
            fail(f"engine {engine} did not load: {reason} (log: {log_path})", Exit.UNAVAILABLE)
        time.sleep(READY_POLL_S)
