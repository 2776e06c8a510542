"""Shotline's benchmarks: `python -m bench [NAME ...]` (bench/__main__.py) runs them and prints one JSON line per
figure. A benchmark is a module here with `run() -> list[dict]`; each dict has `name, value, unit, baseline`
(what it is compared with, in words), `baseline_value, ratio, target` (a comparison written out: "<= 1.0",
">= 0.7", "< 25 ms"), `met` and `machine` (the runner fills `machine` and anything else left out; see
bench/common.py). Baselines run in the same process run, interleaved, and figures are medians.
SHOTLINE_BENCH_QUICK=1 runs the smallest sizes. Results and the GPU plan: docs/performance.md."""
