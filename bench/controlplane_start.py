"""Benchmark: control plane start to ready, warm (binaries cached).

Prints, per run and as the median: PKI generation, etcd ready, kube-apiserver
ready (/readyz), kube-controller-manager ready (/healthz), total, and stop.
The baseline, measured in the same run, is the bare cost of executing the
three binaries (`--version`), the floor any harness pays. Target: total under
15 s warm.

    .venv/bin/python bench/controlplane_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from localcluster.build import ensure_control_plane_binaries
from localcluster.controlplane import ControlPlane

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 15.0


def _exec_floor(binaries: dict[str, Path]) -> float:
    started = time.monotonic()
    for path in binaries.values():
        subprocess.run([str(path), "--version"], capture_output=True, check=True)
    return time.monotonic() - started


def _one_run() -> dict[str, float]:
    marks: dict[str, float] = {}
    cp = ControlPlane()
    started = time.monotonic()
    original = cp._spawn

    def timed_spawn(name: str, argv: list[str]):  # type: ignore[no-untyped-def]
        marks.setdefault("pki", time.monotonic() - started)
        if cp.processes:
            marks[f"{cp.processes[-1].name} ready"] = time.monotonic() - started
        return original(name, argv)

    cp._spawn = timed_spawn  # type: ignore[method-assign]
    cp.start()
    marks["kube-controller-manager ready"] = marks["total"] = time.monotonic() - started
    stop_started = time.monotonic()
    cp.stop()
    marks["stop"] = time.monotonic() - stop_started
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    binaries = ensure_control_plane_binaries()  # build outside the measurement
    floor = _exec_floor(binaries)
    runs = [_one_run() for _ in range(args.runs)]
    phases = list(runs[0])
    print(f"{'phase':32} " + " ".join(f"run{i + 1:>2}" for i in range(len(runs))) + "  median")
    for phase in phases:
        values = [run.get(phase, float("nan")) for run in runs]
        cells = " ".join(f"{v:5.2f}" for v in values)
        print(f"{phase:32} {cells}  {statistics.median(values):6.2f}")
    median_total = statistics.median(run["total"] for run in runs)
    print(f"{'baseline: exec the 3 binaries':32} {floor:5.2f}")
    print(
        f"total/baseline ratio: {median_total / floor:.1f}x; "
        f"target < {TARGET_SECONDS:.0f}s: {'met' if median_total < TARGET_SECONDS else 'MISSED'}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "controlplane_start.json"
    out.write_text(
        json.dumps(
            {"runs": runs, "baseline_exec_s": floor, "median_total_s": median_total}, indent=2
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
