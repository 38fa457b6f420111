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

from localcluster.controlplane import ControlPlane
from localcluster.processes import Supervised

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
            except Exception:
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
        # The raw response: the benchmark client should not spend the CPU
        # the apiserver and controller need on deserialising models.
        response = core.create_namespaced_service(namespace, _service(name), _preload_content=False)
        response.drain_conn()
        response.release_conn()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, names))
    return created


def _latencies(
    core: client.CoreV1Api, watcher: Watcher, namespace: str, table: str, count: int
) -> list[float]:
    """Create `count` Services one at a time; seconds until each shows up in `table`."""
    result = []
    for i in range(count):
        name = f"{namespace[0]}{i}"
        t0 = time.monotonic()
        core.create_namespaced_service(namespace, _service(name))
        if not watcher.wait({name}, table, 10):
            raise SystemExit(f"{namespace} {name}: not seen in {table} within 10s")
        result.append(getattr(watcher, table)[name] - t0)
    return result


def _burst(api: client.ApiClient, core: client.CoreV1Api, pid: int, count: int) -> dict[str, float]:
    cpu0, _ = _proc_stats(pid)
    watcher = Watcher(api, "burst").start()
    names = [f"svc-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    t0 = time.monotonic()
    created = _create_all(core, "burst", names)
    create_all_s = time.monotonic() - t0
    done = watcher.wait(set(names), "ingress", 300)
    if not done:
        missing = len(set(names) - set(watcher.ingress))
        print(f"burst: {missing} Services got no ingress within 300s", file=sys.stderr)
    total_s = max(watcher.ingress.values()) - t0 if done else float("nan")
    cpu1, peak = _proc_stats(pid)
    watcher.stop()
    lat = [watcher.ingress[n] - created[n] for n in names if n in watcher.ingress]
    return {
        "services": count,
        "all_done_s": total_s,
        "p50_s": statistics.median(lat),
        "p99_s": _pct(lat, 0.99),
        "controller_cpu_s": cpu1 - cpu0,
        "controller_peak_rss_mib": peak / 2**20,
        "baseline_create_all_s": create_all_s,
    }


def _report(single: list[float], base: list[float], b: dict[str, float]) -> dict[str, Any]:
    s = {
        "p50_s": statistics.median(single),
        "p99_s": _pct(single, 0.99),
        "baseline_p50_s": statistics.median(base),
        "baseline_p99_s": _pct(base, 0.99),
    }
    rows = [
        ("single: p50 create->ingress (s)", s["p50_s"], s["baseline_p50_s"]),
        ("single: p99 create->ingress (s)", s["p99_s"], s["baseline_p99_s"]),
        (
            f"burst {b['services']:.0f}: all have ingress (s)",
            b["all_done_s"],
            b["baseline_create_all_s"],
        ),
    ]
    print(f"{'scenario':36} {'value':>9} {'baseline':>9} {'ratio':>6}")
    for label, value, baseline in rows:
        print(f"{label:36} {value:9.3f} {baseline:9.3f} {value / baseline:6.1f}")
    for label, key in [
        ("burst: p50 per Service (s)", "p50_s"),
        ("burst: p99 per Service (s)", "p99_s"),
        ("burst: controller CPU (s)", "controller_cpu_s"),
        ("burst: controller peak RSS (MiB)", "controller_peak_rss_mib"),
    ]:
        print(f"{label:36} {b[key]:9.2f}")
    print(
        f"targets: single p99 < 1s: {'met' if s['p99_s'] < 1 else 'MISSED'}; "
        f"{b['services']:.0f} within 30s: {'met' if b['all_done_s'] < 30 else 'MISSED'}"
    )
    return {"single": s, "burst": b}


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
        base = _latencies(core, base_watch, "baseline", "seen", args.singles)
        base_watch.stop()
        argv = [
            sys.executable,
            "-m",
            "lbctl",
            "run",
            f"--kubeconfig={cp.kubeconfig}",
            f"--load-balancer-class={CLASS}",
            "--pool=198.18.128.0/17",
            f"--workers={args.workers}",
            "--metrics-addr=127.0.0.1:0",
        ]
        controller = Supervised("lbctl", argv, log_dir=Path(logs)).start()
        try:
            single_watch = Watcher(api, "single").start()
            time.sleep(2)  # let the controller's informers sync
            single = _latencies(core, single_watch, "single", "ingress", args.singles)
            single_watch.stop()
            assert controller.pid is not None
            burst = _burst(api, core, controller.pid, args.services)
        finally:
            controller.stop()
            api.close()
    result = _report(single, base, burst) | {"workers": args.workers}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "controller_scale.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
