"""`python -m bench [NAME ...]`: run the benchmarks (all of them, or the ones named) and print one JSON line per
figure. SHOTLINE_BENCH_QUICK=1 runs the smallest sizes.

Each benchmark runs in its own child process (`python -m bench --child NAME`): a crash in native code, a
module that is missing or broken, or one that leaves threads and memory behind costs only its own lines, and
every later benchmark starts on a clean process. Whatever happens, each benchmark leaves at least one line.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import subprocess
import sys
import traceback

from bench.common import ROOT, child_env, complete, emit, machine, not_run

# In the order they run: the cheap, self-contained ones first.
BENCHMARKS = ("encode", "api", "engine_overhead", "multishot", "engine_cost", "queue_throughput", "scaling", "gpu")
MODULE_TIMEOUT_S = 45 * 60  # bounded: a hung benchmark must not hang the run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): "
                                                                 f"{', '.join(BENCHMARKS)}")
    parser.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in args.names or BENCHMARKS:
        info = machine()  # taken before the benchmark starts: its load average is other people's load
        for fig in _run_in_child(name):
            emit(complete(fig, info))
    return 0


def _run_in_child(name: str) -> list[dict]:
    if importlib.util.find_spec(f"bench.{name}") is None:
        return [not_run(name, "skipped: not present", module=f"bench/{name}.py")]
    try:
        proc = subprocess.run([sys.executable, "-m", "bench", "--child", name], cwd=ROOT, env=child_env(),
                              stdout=subprocess.PIPE, text=True, timeout=MODULE_TIMEOUT_S)
        stdout, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout, code = e.stdout if isinstance(e.stdout, str) else "", f"timeout after {MODULE_TIMEOUT_S} s"
    figures = []
    for line in stdout.splitlines():
        try:
            fig = json.loads(line)
        except ValueError:
            print(line, file=sys.stderr)  # a module's own chatter: keep it, but off the JSON stream
            continue
        if isinstance(fig, dict) and "name" in fig:
            figures.append(fig)
    if code != 0 and not any("error" in f for f in figures):
        figures.append(not_run(name, f"the benchmark process ended with {code}", module=f"bench/{name}.py"))
    return figures or [not_run(name, "the benchmark printed no figure", module=f"bench/{name}.py")]


def _child(name: str) -> int:
    try:
        module = importlib.import_module(f"bench.{name}")
        figures = module.run()
    except Exception as e:
        traceback.print_exc()
        emit(not_run(name, f"{type(e).__name__}: {e}", module=f"bench/{name}.py"))
        return 1
    for fig in figures:
        emit(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
