"""Benchmark: the controller (local provider) against a real apiserver.

Two scenarios, each with a baseline measured in the same run:
- single: one Service at a time on an idle controller, N times; latency from
  create to ingress (p50/p99). Baseline: create to the watch seeing it, the
  apiserver's own floor.
- burst: `--services` LoadBalancer Services created at once (16 client
  threads); time until all have ingress, p50/p99 per-Service latency, and the
  controller process's CPU seconds and peak RSS. Baseline: the time the same
  clients need just to create them.
Targets: single p99 < 1 s; 1000 Services done within 30 s.

    .venv/bin/python bench/controller_scale.py [--services 1000] [--singles 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config

from lbctl.cluster.controlplane import ControlPlane
from lbctl.cluster.processes import Supervised

RESULTS = Path(__file__).parent / "results"
CLASS = "bench.lbctl.io/lb"


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": CLASS,
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }


class Watcher:
    """Records when each Service was first seen and first had ingress."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self.ingress: dict[str, float] = {}
        self._core = client.CoreV1Api(api)
        self._namespace = namespace
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._response: Any = None

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        rv = self._core.list_namespaced_service(self._namespace).metadata.resource_version
        while not self._stop.is_set():
            self._response = self._core.list_namespaced_service(
                self._namespace,
                watch=True,
                resource_version=rv,
                timeout_seconds=60,
                _preload_content=False,
            )
            buffer = b""
            try:
                for chunk in self._response.stream(amt=65536, decode_content=False):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        rv = self._handle(json.loads(line)) or rv
            except Exception:  # noqa: BLE001 - stop() shuts the response down
                if self._stop.is_set():
                    return

    def _handle(self, event: dict[str, Any]) -> str | None:
        now = time.monotonic()
        obj = event["object"]
        name = obj["metadata"]["name"]
        with self._changed:
            self.seen.setdefault(name, now)
            if (obj.get("status") or {}).get("loadBalancer", {}).get("ingress"):
                self.ingress.setdefault(name, now)
            self._changed.notify_all()
        return str(obj["metadata"].get("resourceVersion") or "") or None

    def wait(self, names: set[str], table: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not names <= set(getattr(self, table)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._response is not None:
            self._response.shutdown()
        self._thread.join(timeout=5)


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = 100.0
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _create_all(core: client.CoreV1Api, namespace: str, names: list[str]) -> dict[str, float]:
    created: dict[str, float] = {}

    def one(name: str) -> None:
        created[name] = time.monotonic()
        core.create_namespaced_service(namespace, _service(name))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, names))
    return created


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as logs:
        api = config.new_client_from_config(config_file=str(cp.kubeconfig))
        core = client.CoreV1Api(api)
        for ns in ("baseline", "single", "burst"):
            core.create_namespace({"metadata": {"name": ns}})
        for i in range(3):
            core.create_node({"metadata": {"name": f"node-{i}"}})
        # Baseline: create -> watch event, no controller involved.
        base_watch = Watcher(api, "baseline").start()
        base_lat = []
        for i in range(args.singles):
            name = f"b{i}"
            t0 = time.monotonic()
            core.create_namespaced_service("baseline", _service(name))
            base_watch.wait({name}, "seen", 10)
            base_lat.append(base_watch.seen[name] - t0)
        base_watch.stop()
        controller = Supervised(
            "lbctl",
            [
                sys.executable,
                "-m",
                "lbctl",
                "run",
                f"--kubeconfig={cp.kubeconfig}",
                f"--load-balancer-class={CLASS}",
                "--pool=198.18.128.0/17",
                f"--workers={args.workers}",
                "--metrics-addr=127.0.0.1:0",
            ],
            log_dir=Path(logs),
        ).start()
        try:
            single = Watcher(api, "single").start()
            time.sleep(2)  # let the controller sync
            single_lat = []
            for i in range(args.singles):
                name = f"s{i}"
                t0 = time.monotonic()
                core.create_namespaced_service("single", _service(name))
                if not single.wait({name}, "ingress", 10):
                    print(f"single {name}: no ingress in 10s", file=sys.stderr)
                    return 1
                single_lat.append(single.ingress[name] - t0)
            single.stop()
            pid = controller.pid
            assert pid is not None
            cpu0, _ = _proc_stats(pid)
            burst = Watcher(api, "burst").start()
            names = [f"svc-{uuid.uuid4().hex[:8]}" for _ in range(args.services)]
            t0 = time.monotonic()
            created = _create_all(core, "burst", names)
            create_all_s = time.monotonic() - t0
            done = burst.wait(set(names), "ingress", 300)
            total_s = max(burst.ingress.values()) - t0 if done else float("nan")
            cpu1, peak = _proc_stats(pid)
            burst.stop()
            lat = [burst.ingress[n] - created[n] for n in names if n in burst.ingress]
        finally:
            controller.stop()
            api.close()
    result = {
        "single": {
            "p50_s": statistics.median(single_lat),
            "p99_s": _pct(single_lat, 0.99),
            "baseline_p50_s": statistics.median(base_lat),
            "baseline_p99_s": _pct(base_lat, 0.99),
        },
        "burst": {
            "services": args.services,
            "all_done_s": total_s,
            "p50_s": statistics.median(lat),
            "p99_s": _pct(lat, 0.99),
            "controller_cpu_s": cpu1 - cpu0,
            "controller_peak_rss_mib": peak / 2**20,
            "baseline_create_all_s": create_all_s,
            "workers": args.workers,
        },
    }
    s, b = result["single"], result["burst"]
    print(f"{'scenario':34} {'value':>10} {'baseline':>10} {'ratio':>7}")
    print(
        f"{'single: p50 create->ingress (s)':34} {s['p50_s']:10.3f} "
        f"{s['baseline_p50_s']:10.3f} {s['p50_s'] / s['baseline_p50_s']:7.1f}"
    )
    print(
        f"{'single: p99 create->ingress (s)':34} {s['p99_s']:10.3f} "
        f"{s['baseline_p99_s']:10.3f} {s['p99_s'] / s['baseline_p99_s']:7.1f}"
    )
    print(
        f"{f'burst {args.services}: all have ingress (s)':34} {b['all_done_s']:10.2f} "
        f"{b['baseline_create_all_s']:10.2f} {b['all_done_s'] / b['baseline_create_all_s']:7.1f}"
    )
    print(f"{'burst: p50 per Service (s)':34} {b['p50_s']:10.2f}")
    print(f"{'burst: p99 per Service (s)':34} {b['p99_s']:10.2f}")
    print(f"{'burst: controller CPU (s)':34} {b['controller_cpu_s']:10.2f}")
    print(f"{'burst: controller peak RSS (MiB)':34} {b['controller_peak_rss_mib']:10.1f}")
    print(
        f"targets: single p99 < 1s: {'met' if s['p99_s'] < 1 else 'MISSED'}; "
        f"{args.services} within 30s: {'met' if b['all_done_s'] < 30 else 'MISSED'}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "controller_scale.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
