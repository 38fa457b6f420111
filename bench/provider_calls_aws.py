"""Benchmark: AWS API calls per operation of the aws provider, against moto.

Operations, each counted from the provider's own metrics (every HTTP attempt):
- create one load balancer;
- no-op resync of N load balancers (--lbs, default 200): warm (a running
  controller, snapshot older than its max age), and cold (a restarted
  controller: per-resource details are read once per verify period);
  baseline, measured in the same run: the reads a provider makes that reads
  each Service's resources one by one (upstream's shape);
- one node joining a cluster with M load balancers (--join-lbs, default 100):
  batched RegisterTargets per target group, issued concurrently; baseline:
  the same with one worker (sequential).
Targets: zero mutating calls on a no-op resync, reads that do not grow as one
call per resource per Service, one register call per target group.

moto runs in this process on 127.0.0.1 (ephemeral port); nothing else is
contacted. Results: a table on stdout and bench/results/provider_calls_aws.json.

    .venv/bin/python bench/provider_calls_aws.py [--lbs 1000] [--join-lbs 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The moto helpers live with the tests (tests/fakes/aws.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lbcommon.clock import FakeClock
from lbcommon.desired import desired_load_balancer
from lbcommon.model import LoadBalancer, NodeInfo, Protocol, ServicePort, ServiceSpec
from lbctl.metrics import Metrics
from lbctl.providers.aws import AwsProvider
from tests.fakes.aws import CLUSTER_ID, MotoServer, World, is_mutating, moto_server, provider_id

RESULTS = Path(__file__).parent / "results"


def calls(metrics: Metrics) -> Counter[str]:
    counts: Counter[str] = Counter()
    for metric in metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "lbctl_provider_calls_total":
                counts[sample.labels["method"]] += int(sample.value)
    return counts


def measure(metrics: Metrics, step: Callable[[], Any]) -> dict[str, Any]:
    before = calls(metrics)
    started = time.perf_counter()
    step()
    seconds = time.perf_counter() - started
    delta = calls(metrics) - before
    mutating = sum(n for m, n in delta.items() if is_mutating(m.split(".", 1)[1]))
    return {
        "seconds": round(seconds, 3),
        "reads": sum(delta.values()) - mutating,
        "mutating": mutating,
        "by_method": dict(sorted(delta.items())),
    }


def nodes_of(world: World) -> list[NodeInfo]:
    return [
        NodeInfo(f"node-{i}", f"198.18.0.{10 + i}", zone, provider_id(zone, instance))
        for i, (zone, instance) in enumerate(world.instances)
    ]


def service(uid: str, index: int, nodes: list[NodeInfo]) -> LoadBalancer:
    spec = ServiceSpec(
        namespace="bench",
        name=f"svc-{index}",
        uid=uid,
        type="LoadBalancer",
        load_balancer_class=None,
        ports=(ServicePort("http", Protocol.TCP, 80, 30000 + index % 2000),),
    )
    return desired_load_balancer(spec, nodes)


def provider(
    moto: MotoServer, world: World, clock: FakeClock, *, clients: Any = None, **kw: Any
) -> tuple[AwsProvider, Metrics]:
    elbv2, ec2 = clients or moto.clients()
    metrics = Metrics()
    made = AwsProvider(
        elbv2=elbv2,
        ec2=ec2,
        metrics=metrics,
        cluster_id=CLUSTER_ID,
        vpc_id=world.vpc_id,
        clock=clock,
        **kw,
    )
    return made, metrics


def create_all(p: AwsProvider, lbs: list[LoadBalancer]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(p.ensure, lbs))


def naive_reads(moto: MotoServer, lbs: list[LoadBalancer]) -> dict[str, Any]:
    """Baseline: read each Service's resources one by one, as upstream does."""
    elbv2, ec2 = moto.clients()
    count: Counter[str] = Counter()

    def read(lb: LoadBalancer) -> None:
        name = "a" + lb.uid.replace("-", "")[:31]
        arn = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
        elbv2.describe_listeners(LoadBalancerArn=arn)
        tgs = elbv2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
        elbv2.describe_tags(ResourceArns=[arn] + [t["TargetGroupArn"] for t in tgs])
        for tg in tgs:
            elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])
            elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"k8s-elb-{name}"]}]
        )
        count["per Service"] += 5 + 2 * len(tgs)

    started = time.perf_counter()
    for lb in lbs:
        read(lb)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "reads": count["per Service"],
        "mutating": 0,
    }


class InFlight:
    """Peak number of concurrent RegisterTargets calls, from botocore events."""

    def __init__(self, client: Any) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()
        client.meta.events.register("before-call.*.RegisterTargets", self._start)
        client.meta.events.register("after-call.*.RegisterTargets", self._end)

    def _start(self, **_: Any) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def _end(self, **_: Any) -> None:
        with self.lock:
            self.now -= 1


def node_join(moto: MotoServer, world: World, count: int, workers: int) -> dict[str, Any]:
    clock = FakeClock(start=1000.0)  # stepped, so "later" takes no time
    clients = moto.clients()
    peak = InFlight(clients[0])
    p, metrics = provider(moto, world, clock, clients=clients, workers=workers)
    uids = [str(uuid.uuid4()) for _ in range(count)]
    lbs = [service(u, i, nodes_of(world)) for i, u in enumerate(uids)]
    create_all(p, lbs)
    world.add_instance()
    joined = nodes_of(world)
    updated = [lb.with_backends(service(lb.uid, i, joined).backends) for i, lb in enumerate(lbs)]
    clock.step(60)  # the snapshot is older than its max age, as after any real delay
    peak.peak = 0
    result = measure(metrics, lambda: p.update_backends(updated))
    result["peak_concurrent_registers"] = peak.peak
    for lb in lbs:  # leave moto clean for the next measurement
        p.delete(lb.key, lb.uid)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lbs", type=int, default=200, help="load balancers in the resync")
    parser.add_argument("--join-lbs", type=int, default=100, help="load balancers for node join")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    with moto_server() as moto:
        world = World(moto.clients()[1]).build(nodes=args.nodes)
        clock = FakeClock(start=1000.0)
        p, metrics = provider(moto, world, clock)
        lbs = [service(str(uuid.uuid4()), i, nodes_of(world)) for i in range(args.lbs)]
        rows["create one LB"] = measure(metrics, lambda: p.ensure(lbs[0]))
        create_all(p, lbs[1:])
        clock.step(300)  # the next resync period: the snapshot is stale
        rows[f"no-op resync of {args.lbs} LBs (warm)"] = measure(
            metrics, lambda: [p.ensure(lb) for lb in lbs]
        )
        cold, cold_metrics = provider(moto, world, FakeClock(start=1000.0))
        rows[f"no-op resync of {args.lbs} LBs (restarted)"] = measure(
            cold_metrics, lambda: [cold.ensure(lb) for lb in lbs]
        )
        rows[f"baseline: per-Service reads of {args.lbs} LBs"] = naive_reads(moto, lbs)
        for lb in lbs:
            p.delete(lb.key, lb.uid)
        rows[f"node joins, {args.join_lbs} LBs"] = node_join(moto, world, args.join_lbs, 16)
        rows[f"baseline: node joins, {args.join_lbs} LBs, 1 worker"] = node_join(
            moto, world, args.join_lbs, 1
        )
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "provider_calls_aws.json"
    out.write_text(json.dumps({"args": vars(args), "results": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    width = max(len(k) for k in rows) + 2
    print(f"{'operation':<{width}}{'reads':>8}{'mutating':>10}{'seconds':>10}  notes")
    for name, row in rows.items():
        notes = ", ".join(f"{m.split('.', 1)[1]} {n}" for m, n in row.get("by_method", {}).items())
        if "peak_concurrent_registers" in row:
            notes = f"peak concurrent registers {row['peak_concurrent_registers']}; {notes}"
        print(
            f"{name:<{width}}{row['reads']:>8}{row['mutating']:>10}{row['seconds']:>10.2f}  {notes}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
