"""Benchmark: Compute API calls per operation of the gce provider, against the GCE fake.

Operations, each counted from the fake's call log (every HTTP request; reads
and mutations apart, operation polls included in reads):
- create one load balancer (on an empty project);
- no-op resync of N load balancers (--lbs, default 200): every Service is
  ensured once by 4 workers, as a controller resync does; round 1 with an
  empty cache (a restarted controller), round 2 within the cache's TTL (a
  running one). Baseline, measured in the same run: reading each Service's
  resources one by one with GETs (upstream's shape), diffing the same way;
- one node joining a cluster with M load balancers (--join-lbs, default 100):
  `update_backends` for all of them. Each addInstance is held 50 ms by the
  fake so that overlap is visible; peak concurrency is measured from the
  calls' start (fault hook) and end (call log) times. Baseline: the same
  join of another node with one worker (sequential, as upstream's node sync).
Targets: zero mutating calls on a no-op resync, reads that do not grow with
the number of Services, one addInstance per target pool, all in flight
together (bounded by the provider's worker count).

Cache choice: one list per resource kind (filtered to names we may own,
paged by 500) plus one aggregated instance list, shared by every reconcile
for `CACHE_TTL` seconds (20); the cache only ever proves "nothing to
do": a reconcile that must mutate re-reads its resources with GETs first.

The fake runs in this process on 127.0.0.1 (ephemeral port); nothing else is
contacted. Results: a table on stdout and bench/results/provider_calls_gce.json.

    .venv/bin/python bench/provider_calls_gce.py [--lbs 1000] [--join-lbs 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The GCE fake lives with the tests (tests/fakes/gce/).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lbcommon.desired import desired_load_balancer
from lbcommon.model import LoadBalancer, NodeInfo, Protocol, ServicePort, ServiceSpec
from lbctl.metrics import Metrics
from lbctl.providers.common.retry import RetryPolicy
from lbctl.providers.gce import GceProvider, Scope, Timeouts, connect
from lbctl.providers.gce.diff import plan_ensure
from lbctl.providers.gce.inventory import DirectReader
from lbctl.providers.gce.observe import observe
from lbctl.providers.gce.spec import load_balancer_spec
from tests.fakes.gce import Call, GCEFake

RESULTS = Path(__file__).parent / "results"
PROJECT, REGION = "bench", "us-central1"
SCOPE = Scope(project=PROJECT, region=REGION, network="default", cluster_id="bench")
RETRY = RetryPolicy(attempts=4, initial=0.01, maximum=0.1, jitter=0.01)
TIMEOUTS = Timeouts(poll=0.0)
WORKERS = 4  # controller workers for the resync
HOLD = 0.05  # seconds the fake holds each addInstance in the join scenario


def _fake() -> GCEFake:
    return GCEFake(project=PROJECT, region=REGION, address_range=("198.18.8.0", "198.18.15.255"))


def _provider(fake: GCEFake, **options: Any) -> GceProvider:
    return connect(
        SCOPE, endpoint=fake.endpoint, metrics=Metrics(), retry=RETRY, timeouts=TIMEOUTS, **options
    )


def _nodes(fake: GCEFake, count: int, start: int = 0) -> list[NodeInfo]:
    nodes = []
    for index in range(start, start + count):
        zone = f"{REGION}-{'abc'[index % 3]}"
        name, ip = f"node-{index}", f"198.18.0.{10 + index % 200}"
        fake.seed_instance(name, zone=zone, ip=ip, tags=["k8s-node"])
        nodes.append(NodeInfo(name, ip, zone, f"gce://{PROJECT}/{zone}/{name}"))
    return nodes


def _lbs(count: int, nodes: list[NodeInfo]) -> list[LoadBalancer]:
    return [
        desired_load_balancer(
            ServiceSpec(
                namespace="bench",
                name=f"svc-{index}",
                uid=f"{index:08x}-0000-4000-8000-000000000000",
                type="LoadBalancer",
                load_balancer_class=None,
                ports=(ServicePort("http", Protocol.TCP, 80, 30000 + index % 2000),),
            ),
            nodes,
        )
        for index in range(count)
    ]


def _counts(calls: list[Call]) -> dict[str, int]:
    return {
        "reads": sum(1 for c in calls if not c.mutating),
        "mutations": sum(1 for c in calls if c.mutating),
        "operation_polls": sum(1 for c in calls if c.is_operation_poll),
    }


def _each(lbs: list[LoadBalancer], work: Callable[[LoadBalancer], object]) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(work, lbs))
    return time.monotonic() - started


def create_one() -> dict[str, Any]:
    with _fake() as fake:
        nodes = _nodes(fake, 3)
        provider = _provider(fake)
        try:
            provider.ensure(_lbs(1, nodes)[0])
            calls = fake.calls
            return {
                "operation": "create one load balancer",
                **_counts(calls),
                "mutating_calls": [c.method for c in calls if c.mutating],
            }
        finally:
            provider.close()


def resync(count: int, node_count: int) -> list[dict[str, Any]]:
    with _fake() as fake:
        nodes = _nodes(fake, node_count)
        lbs = _lbs(count, nodes)
        setup = _provider(fake)
        _each(lbs, setup.ensure)
        setup.close()
        rows: list[dict[str, Any]] = []
        provider = _provider(fake)  # a restarted controller: empty cache
        try:
            for label in ("round 1 (restarted, cold cache)", "round 2 (within cache TTL)"):
                fake.reset_calls()
                seconds = _each(lbs, provider.ensure)
                rows.append(
                    {
                        "operation": f"no-op resync of {count} LBs, {label}",
                        **_counts(fake.calls),
                        "seconds": round(seconds, 3),
                    }
                )
            fake.reset_calls()

            def one_by_one(lb: LoadBalancer) -> None:
                spec = load_balancer_spec(lb, region=REGION, cluster_id=SCOPE.cluster_id)
                reader = DirectReader(provider.inventory)
                obs = observe(
                    spec.name,
                    reader,
                    SCOPE,
                    instances=provider.inventory.instances(spec.instances),
                    wanted=spec.instances,
                )
                steps = plan_ensure(spec, obs, SCOPE)
                if steps:
                    raise AssertionError(f"{lb.key} is not converged: {steps}")

            seconds = _each(lbs, one_by_one)
            rows.append(
                {
                    "operation": f"baseline: no-op resync of {count} LBs, GETs per Service",
                    **_counts(fake.calls),
                    "seconds": round(seconds, 3),
                }
            )
            return rows
        finally:
            provider.close()


class Overlap:
    """Start (fault hook) and end (call log) times of one method's calls."""

    def __init__(self, fake: GCEFake, method: str) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[float, int]] = []
        fake.faults.fail_when(lambda call: self._mark(call, method, +1))
        record = fake.call_log.record

        def recorded(call: Call) -> None:
            self._mark(call, method, -1)
            record(call)

        fake.call_log.record = recorded  # type: ignore[method-assign]

    def _mark(self, call: Call, method: str, delta: int) -> bool:
        if call.method == method:
            with self._lock:
                self.events.append((time.monotonic(), delta))
        return False  # never a fault

    def peak(self) -> int:
        current = peak = 0
        for _, delta in sorted(self.events, key=lambda e: (e[0], e[1])):
            current += delta
            peak = max(peak, current)
        self.events.clear()
        return peak


def node_join(count: int, node_count: int) -> list[dict[str, Any]]:
    with _fake() as fake:
        nodes = _nodes(fake, node_count)
        lbs = _lbs(count, nodes)
        setup = _provider(fake)
        _each(lbs, setup.ensure)
        setup.close()
        overlap = Overlap(fake, "targetPools.addInstance")
        fake.faults.delay("targetPools.addInstance", HOLD)
        rows = []
        for label, workers, start in (("batched, concurrent", 16, node_count),
                                      ("baseline: one worker", 1, node_count + 1)):  # fmt: skip
            nodes = [*nodes, *_nodes(fake, 1, start=start)]
            joined = [lb.with_backends(_lbs(1, nodes)[0].backends) for lb in lbs]
            provider = _provider(fake, backend_workers=workers)
            fake.reset_calls()
            started = time.monotonic()
            failures = provider.update_backends(joined)
            seconds = time.monotonic() - started
            provider.close()
            if failures:
                raise AssertionError(f"update_backends failed: {failures}")
            counts = _counts(fake.calls)
            rows.append(
                {
                    "operation": f"one node joins {count} LBs, {label}",
                    **counts,
                    "add_instance_calls": fake.count("targetPools.addInstance"),
                    "peak_concurrent_add_instance": overlap.peak(),
                    "seconds": round(seconds, 3),
                }
            )
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lbs", type=int, default=200, help="LBs in the resync scenario")
    parser.add_argument("--join-lbs", type=int, default=100, help="LBs in the node-join scenario")
    parser.add_argument("--nodes", type=int, default=20, help="nodes (instances) in the cluster")
    args = parser.parse_args()

    rows = [create_one(), *resync(args.lbs, args.nodes), *node_join(args.join_lbs, args.nodes)]
    width = max(len(r["operation"]) for r in rows)
    print(f"{'operation':<{width}}  {'reads':>6} {'mutations':>9} {'seconds':>8}  notes")
    for row in rows:
        notes = ""
        if "peak_concurrent_add_instance" in row:
            notes = (
                f"{row['add_instance_calls']} addInstance, "
                f"peak {row['peak_concurrent_add_instance']} in flight"
            )
        elif "mutating_calls" in row:
            notes = ", ".join(row["mutating_calls"])
        seconds = f"{row['seconds']:.2f}" if "seconds" in row else "-"
        print(
            f"{row['operation']:<{width}}  {row['reads']:>6} {row['mutations']:>9} "
            f"{seconds:>8}  {notes}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "provider_calls_gce.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
