"""Benchmark: local multi-node cluster boot, by phase.

Phases (seconds): build (binaries and images: a cache check when warm),
control_plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler
ready), nodes_ready (namespaces, containerd, image import, kubelets
registered and Ready), dns_serving (CoreDNS answers through the kube-dns
Service from a node), load_balancing (lbctl and nodeproxy applied in-cluster
and ready), total, and down (teardown). The baseline, measured in
the same run, is the foundation's bare control plane on loopback: what the
nodes, networking and DNS add on top of it. Target: warm total under 90 s.

`--cold` points the lbctl cache at an empty directory (Go's own module and
build caches are kept, so it measures our build and image steps, not a
download of the Go ecosystem); without it every run is warm.

    .venv/bin/python bench/cluster_boot.py [--runs 3] [--workers 2] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from localcluster.cluster import LocalCluster
from localcluster.controlplane import ControlPlane

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 90.0
PHASES = ("build", "control_plane", "nodes_ready", "dns_serving", "load_balancing", "total", "down")


def _baseline() -> float:
    started = time.monotonic()
    with ControlPlane():
        elapsed = time.monotonic() - started
    return elapsed


def _one_boot(workers: int) -> dict[str, float]:
    cluster = LocalCluster(workers=workers, progress=lambda _: None)
    try:
        cluster.up()
        phases = dict(cluster.phases)
    finally:
        started = time.monotonic()
        cluster.down()
        down = time.monotonic() - started
    phases["down"] = round(down, 2)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="start from an empty lbctl cache")
    args = parser.parse_args()

    cold_cache = None
    if args.cold:
        cold_cache = tempfile.mkdtemp(prefix="lbctl-cold-cache-")
        os.environ["LBCTL_CACHE"] = cold_cache
    try:
        baseline = _baseline()
        runs = [_one_boot(args.workers) for _ in range(args.runs)]
    finally:
        if cold_cache:
            shutil.rmtree(cold_cache, ignore_errors=True)

    print(f"{'run':<8}" + "".join(f"{p:>15}" for p in PHASES))
    for index, run in enumerate(runs, start=1):
        label = "cold" if args.cold and index == 1 else "warm"
        print(f"{index} {label:<6}" + "".join(f"{run.get(p, 0.0):>15.1f}" for p in PHASES))
    warm = runs[1:] if args.cold and len(runs) > 1 else ([] if args.cold else runs)
    median = {p: statistics.median(r.get(p, 0.0) for r in warm) for p in PHASES} if warm else {}
    if median:
        print(f"{'median':<8}" + "".join(f"{median[p]:>15.1f}" for p in PHASES))
    print(f"baseline: bare control plane on loopback {baseline:.1f}s")
    if median:
        verdict = "meets" if median["total"] <= TARGET_SECONDS else "MISSES"
        print(
            f"warm total {median['total']:.1f}s {verdict} the {TARGET_SECONDS:.0f}s target; "
            f"{median['total'] - baseline:.1f}s over the bare control plane"
        )

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"cluster_boot-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "workers": args.workers,
                "cold": args.cold,
                "runs": runs,
                "warm_median": median,
                "baseline_control_plane_s": round(baseline, 2),
                "target_s": TARGET_SECONDS,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
