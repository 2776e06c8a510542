"""The worker: claims a task, renders it (runner.py), stores the file, marks the task.

One worker runs one task at a time and keeps its engine loaded across tasks. It never trusts that it
still owns a task: every write names its `worker_id`, so if its lease lapsed and the task went to
another worker, its late writes change nothing. Failures end the task FAILED with a sentence a user can
act on; the worker itself carries on with the next task.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from shotline.config import Settings
from shotline.db import TaskRecord, TaskStore, WorkerRegistry, make_db, migrate, recover_orphans
from shotline.engines.base import Engine, GenerationPlan, ShotPlan, plan_generation
from shotline.errors import GenerationError, GenerationStopped
from shotline.logs import task_context
from shotline.outages import failure_reason, is_database_unreachable
from shotline.plans import load_plan
from shotline.status import TaskStatus
from shotline.storage import from_settings as storage_from_settings

log = logging.getLogger("shotline.worker")

HOSTNAME = socket.gethostname()


def new_worker_id() -> str:
    return f"{HOSTNAME}:{os.getpid()}:{secrets.token_hex(3)}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; it only waits to be reaped
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def gpu_memory() -> dict[str, int]:
    """The GPU memory this process holds (torch's reserved bytes) and its card's total, when it already
    uses CUDA; empty otherwise. Never imports torch itself: a process without it has no GPU memory."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    device = torch.cuda.current_device()
    return {"gpu_memory_used_bytes": int(torch.cuda.memory_reserved(device)),
            "gpu_memory_total_bytes": int(torch.cuda.get_device_properties(device).total_memory)}


def worker_is_gone(worker_id: str) -> bool:
    """True when the worker ran on this host and its process no longer exists. Workers elsewhere are
    judged by their lease alone."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOSTNAME or not pid_text.isdigit():
        return False
    return not pid_alive(int(pid_text))


class Progress:
    """Turns step callbacks into a monotonic percent in the store, and checks for cancel or shutdown.

    Units: each denoising step counts one (every stage of the recipe), and each shot's encoding counts one
    more. The last percent (100) is written only together with SUCCEED."""

    CANCEL_CHECK_S = 0.5

    def __init__(self, tasks: TaskStore, task: TaskRecord, worker_id: str, plan: GenerationPlan,
                 should_stop: Callable[[], bool]) -> None:
        self.tasks, self.task, self.worker_id = tasks, task, worker_id
        self.total = len(plan.shots) * (plan.shot_steps + 1)
        self.steps = plan.shot_steps
        self.should_stop = should_stop
        self.percent = -1
        self._last_cancel_check = 0.0

    def _report(self, units: float) -> None:
        percent = min(99, int(99 * units / self.total))
        if percent > self.percent:
            self.percent = percent
            self.tasks.set_progress(self.task.id, self.worker_id, percent)

    def check_stop(self) -> None:
        if self.should_stop():
            raise GenerationStopped("shutdown")
        now = time.monotonic()
        if now - self._last_cancel_check >= self.CANCEL_CHECK_S:
            self._last_cancel_check = now
            if self.tasks.cancel_requested(self.task.id):
                raise GenerationStopped("canceled")

    def for_shot(self, shot: ShotPlan) -> Callable[[int], None]:
        def on_step(done: int) -> None:
            self._report(shot.index * (self.steps + 1) + done)
            self.check_stop()

        return on_step

    def shot_encoded(self, shot: ShotPlan) -> None:
        self._report((shot.index + 1) * (self.steps + 1))


class Worker:
    def __init__(self, settings: Settings, engine: Engine | None = None, tasks: TaskStore | None = None) -> None:
        self.settings = settings
        self.worker_id = new_worker_id()
        if tasks is None:
            db = make_db(settings.resolved_database_url)
            migrate(db)
            tasks = TaskStore(db)
        self.tasks = tasks
        self.workers = WorkerRegistry(tasks.db)
        self.storage = storage_from_settings(settings)
        self._engine = engine
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.current_task: str | None = None
        # Called with a task id this worker handed back to the queue (a brokered queue re-sends it).
        self.on_requeue: Callable[[str], None] | None = None
        # Why the engine is not loaded (None: loaded, or not tried yet). Tasks claimed meanwhile end FAILED with it.
        self.load_error: str | None = None

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "call load() first"
        return self._engine

    # --------------------------------------------------------------------------------------- lifecycle

    def load(self) -> bool:
        """Load the engine. A failure (missing or damaged weights, a bad setting) is recorded, not raised: a
        worker that exited would be restarted in a loop, so it stays up, ends each task it claims FAILED with
        the reason, and tries loading again for the next one (the operator may have fixed the weights)."""
        from shotline.engines.registry import create_engine

        self.workers.register(self.worker_id, HOSTNAME, os.getpid(), self.settings.engine)
        t0 = time.monotonic()
        try:
            if self.settings.torch_threads:
                import torch

                torch.set_num_threads(self.settings.torch_threads)
            if self._engine is None:
                self._engine = create_engine(self.settings.engine, self.settings)
            self._engine.load()
        except Exception as err:
            first = (str(err).strip().splitlines() or [""])[0]
            self.load_error = first if isinstance(err, GenerationError) else (
                f"engine {self.settings.engine} could not be loaded ({type(err).__name__}: {first}); the server "
                "log has the details")
            log.error("engine %s failed to load: %s", self.settings.engine, self.load_error,
                      exc_info=not isinstance(err, GenerationError))
            if self._engine is not None:
                self._engine.release_memory()
            self.workers.heartbeat(self.worker_id, state="failed", detail=self.load_error)
            return False
        self.load_error = None
        log.info("engine %s loaded in %.2f s (worker %s)", self.settings.engine, time.monotonic() - t0, self.worker_id)
        self.workers.heartbeat(self.worker_id, state="ready")
        return True

    def heartbeat_once(self) -> None:
        self.workers.heartbeat(self.worker_id, **gpu_memory())
        self.tasks.renew_lease(self.worker_id, self.settings.lease_s)

    def start_heartbeat(self, also: Callable[[], None] | None = None) -> threading.Thread:
        """Renew this worker's leases every `heartbeat_s` in a thread (generation holds the main one)."""

        def beat() -> None:
            while not self.stopping.wait(self.settings.heartbeat_s):
                try:
                    self.heartbeat_once()
                    if also is not None:
                        also()
                except Exception:
                    log.exception("heartbeat failed")

        thread = threading.Thread(target=beat, name="shotline-heartbeat", daemon=True)
        thread.start()
        return thread

    def recover(self) -> None:
        for task_id, status in recover_orphans(self.tasks, worker_is_gone, self.settings.max_attempts):
            log.warning("task %s was left by a stopped worker; now %s", task_id, status.value)
            if status.is_terminal:
                self.storage.delete_checkpoints(task_id)

    def run_one(self, task_id: str | None = None) -> TaskStatus | None:
        """Claim `task_id` if it is still queued, else the oldest queued task, and run it."""
        task = self.tasks.claim(task_id, self.worker_id, self.settings.lease_s) if task_id else None
        if task is None:
            task = self.tasks.claim_next(self.worker_id, self.settings.lease_s)
        return self.run_task(task) if task is not None else None

    def run_forever(self) -> None:
        """Take queued tasks in order until `stopping` is set."""
        from shotline.retention import PeriodicGc

        last_recover = 0.0
        gc = PeriodicGc(self.settings, self.tasks, self.storage)
        while not self.stopping.is_set():
            try:
                if time.monotonic() - last_recover > max(1.0, self.settings.lease_s / 3):
                    self.recover()
                    last_recover = time.monotonic()
                gc.maybe_run()
                task = self.tasks.claim_next(self.worker_id, self.settings.lease_s)
            except Exception as err:
                if not is_database_unreachable(err):
                    raise
                # A database restart is waited out here, not by exiting (the supervisor's backoff grows).
                log.warning("database unreachable (%s); retrying in 1 s", type(err).__name__)
                self.stopping.wait(1.0)
                continue
            if task is None:
                self.wake.wait(self.settings.poll_s)
                self.wake.clear()
                continue
            self.run_task(task)
        self.workers.heartbeat(self.worker_id, state="stopped")

    # ------------------------------------------------------------------------------------------- a task

    def run_task(self, task: TaskRecord) -> TaskStatus:
        """Run one claimed task to its end; returns the status it ended in (QUEUED if handed back)."""
        self.current_task = task.id
        t0 = time.monotonic()
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        out_path = self.settings.work_dir / f"{task.id}.{self.worker_id.rsplit(':', 1)[1]}.mp4"
        with task_context(task.id, task.request_id):
            log.debug("task %s prompts %r", task.id, [shot.prompt for shot in task.request.shots])
            try:
                status = self._run(task, out_path)
            except Exception as err:
                if not is_database_unreachable(err):
                    raise
                status = self._hand_back(task, err)
            finally:
                self.current_task = None
                out_path.unlink(missing_ok=True)
            log.info("task %s ended %s in %.2f s", task.id, status.value, time.monotonic() - t0)
        return status

    def _run(self, task: TaskRecord, out_path: Path) -> TaskStatus:
        from shotline.runner import render

        if self.load_error is not None and not self.load():
            self._fail(task, self.load_error)
            return TaskStatus.FAILED
        plan = self.plan_of(task)
        progress = Progress(self.tasks, task, self.worker_id, plan, self.stopping.is_set)
        labels = self.engine.describe_plan(plan)
        metadata = {
            "comment": labels.get("notice") or f"Shotline, engine {plan.engine}",
            "shotline_engine": plan.engine,
            "shotline_seed": str(plan.seed),
        }
        timings: dict[str, float] = {}
        try:
            progress.check_stop()
            render(self.engine, plan, progress, self.storage, task.id, self.settings.work_dir, out_path, metadata,
                   timings)
            key = self.storage.save(task.id, out_path)
        except GenerationStopped as stop:
            self.engine.release_memory()
            if stop.why == "canceled":
                if self.tasks.cancel(task.id, owned_by=self.worker_id):
                    self.storage.delete_checkpoints(task.id)
                return TaskStatus.CANCELED
            # Shutdown: hand the task back; its finished shots stay as checkpoints for the next run.
            if self.tasks.release(task.id, self.worker_id) and self.on_requeue is not None:
                self.on_requeue(task.id)
            return TaskStatus.QUEUED
        except GenerationError as err:
            self.engine.release_memory()
            self._fail(task, str(err))
            return TaskStatus.FAILED
        except Exception as err:
            self.engine.release_memory()
            if is_database_unreachable(err):
                raise  # not the task's fault: run_task hands it back
            reason = failure_reason(err)
            if reason is not None:
                log.error("task %s: %s (%s: %s)", task.id, reason, type(err).__name__, err)
            else:
                log.error("task %s: %s", task.id, "".join(traceback.format_exception(err)))
                reason = (f"internal error while generating ({type(err).__name__}); the server log has the "
                          f"details under task {task.id}")
            self._fail(task, reason)
            return TaskStatus.FAILED
        moved = self.tasks.succeed(task.id, owned_by=self.worker_id, result_key=key, labels=labels, **timings)
        if moved:
            self.storage.delete_checkpoints(task.id)
        return TaskStatus.SUCCEED if moved else TaskStatus.QUEUED

    def plan_of(self, task: TaskRecord) -> GenerationPlan:
        """The plan made at submit (shotline/plans.py); a task stored without one, or with one this worker
        cannot run as it is (another version, another engine setup), is planned again from its request."""
        plan = load_plan(task.plan, self.engine.spec)
        if plan is None:
            plan = plan_generation(task.request, self.engine.spec, seed=task.seed, steps=self.settings.steps)
        return plan

    def _hand_back(self, task: TaskRecord, err: BaseException, tries: int = 60) -> TaskStatus:
        """The database went away mid-task: give the task back to the queue once it answers again (so it
        is not left PROCESSING under a worker that no longer runs it), without counting the attempt."""
        log.warning("task %s: the database became unreachable (%s); handing the task back", task.id,
                    type(err).__name__)
        for _ in range(tries):
            try:
                if self.tasks.release(task.id, self.worker_id) and self.on_requeue is not None:
                    self.on_requeue(task.id)
                return TaskStatus.QUEUED
            except Exception as again:
                if not is_database_unreachable(again) or self.stopping.wait(1.0):
                    raise
        raise err

    def _fail(self, task: TaskRecord, reason: str) -> None:
        """End the task FAILED (if this worker still owns it) and drop its checkpoints."""
        if self.tasks.fail(task.id, reason, owned_by=self.worker_id):
            self.storage.delete_checkpoints(task.id)
