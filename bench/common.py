"""What every benchmark shares: the machine it ran on, median timing with baselines interleaved, the figure
(one JSON line) and its target check, and small process helpers (a free loopback port, peak RSS, CPU time).

Plain standard library, so that the runner can import it before knowing which benchmarks can run."""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import re
import resource
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # the repository: `bench` imports from here
REQUIRED = ("name", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met", "machine")

# A target is a comparison written out ("<= 1.0", ">= 0.7", "< 25 ms", "< 1500 MB"); the unit after the number
# is for people. A bare number (older modules) means "ratio <= number".
_TARGET = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*([0-9.]+)")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "≤": operator.le, ">=": operator.ge, "≥": operator.ge, "<": operator.lt, ">": operator.gt,
}


def quick() -> bool:
    """Smallest sizes, one repetition: for the smoke test and a first look (SHOTLINE_BENCH_QUICK=1)."""
    return os.environ.get("SHOTLINE_BENCH_QUICK", "") not in ("", "0")


def machine() -> dict[str, Any]:
    """What the figures depend on. The load average is there because this machine may be shared: a figure
    taken under load says so."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }
    try:
        info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        info["load_1m"] = round(os.getloadavg()[0], 2)
    except (OSError, ValueError, AttributeError):
        pass
    return info


def met(target: Any, value: Any, ratio: Any) -> bool | None:
    """Whether `target` holds: a string target compares `value` in its own unit, except that a target on a
    ratio ("ratio <= 1.0", or a bare number) compares the ratio. None when there is nothing to check."""
    if target is None:
        return None
    if isinstance(target, int | float):
        return None if ratio is None else ratio <= target
    text = str(target)
    on_ratio = text.strip().startswith("ratio")
    match = _TARGET.match(text.strip().removeprefix("ratio"))
    subject = ratio if on_ratio else value
    if match is None or subject is None:
        return None
    return _OPS[match.group(1)](float(subject), float(match.group(2)))


def figure(name: str, value: float | None, unit: str, *, baseline: str | None, baseline_value: float | None,
           target: str | None, ratio: float | None = None, **extra: Any) -> dict[str, Any]:
    """One figure. `ratio` defaults to value / baseline_value; `met` follows from `target`."""
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    out = {"name": name, "value": _round(value), "unit": unit, "baseline": baseline,
           "baseline_value": _round(baseline_value), "ratio": _round(ratio), "target": target}
    out["met"] = met(target, value, ratio)
    out.update(extra)
    return out


def complete(fig: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Fill what a module left out, so every line has the same keys. Older modules give `baseline` as the
    number and no `met`: the number moves to `baseline_value` and `met` is computed from the target."""
    fig = dict(fig)
    if "baseline_value" not in fig and isinstance(fig.get("baseline"), int | float):
        fig["baseline_value"] = fig.pop("baseline")
    for key in REQUIRED:
        fig.setdefault(key, None)
    if fig["met"] is None and "error" not in fig:
        fig["met"] = met(fig["target"], fig["value"], fig["ratio"])
    fig["machine"] = {**info, **(fig["machine"] or {})}
    return fig


def not_run(name: str, why: str, **extra: Any) -> dict[str, Any]:
    """The line for a figure that could not be taken: it is printed, never silently dropped."""
    return {"name": name, "value": None, "unit": None, "baseline": None, "baseline_value": None, "ratio": None,
            "target": None, "met": None, "error": why, **extra}


def emit(fig: dict[str, Any]) -> None:
    print(json.dumps(fig), flush=True)


def interleaved(runs: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall seconds of each callable, `repeat` times, taken in turn (a, b, a, b, …) so that load from other
    processes falls on all of them alike. Warm-up runs pay one-time costs (imports, allocations, caches)."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100): a value that was actually observed."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a live process in MiB: the kernel's high-water mark of its own address space
    (VmHWM). Not getrusage's ru_maxrss, which after exec keeps the parent's peak at fork time: a child
    started by a 400 MB process would report at least 400 MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    if pid == "self":  # no /proc (macOS): the best there is
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib / 1024 if sys.platform != "darwin" else kib / 2**20
    return None


class PeakWatcher:
    """Follows another process's peak RSS from a thread until it exits (a finished process has no /proc
    entry left to read, so the last reading is taken while it still runs)."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(every_s,), daemon=True)
        self._thread.start()

    def _watch(self, every_s: float) -> None:
        while not self._stop.is_set():
            now = peak_rss_mb(self.pid)
            if now is None:
                return
            self.peak = max(self.peak, now)
            self._stop.wait(every_s)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds of this process, or of another one by pid (Linux /proc; None elsewhere)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that must import `bench` (run it with cwd=ROOT)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    return round(float(x), digits) if abs(x) < 1000 else round(float(x), 1)
