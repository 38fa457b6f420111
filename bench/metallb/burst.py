"""N LoadBalancer Services created at once, and when each got its ingress.

One namespace per burst. `WORKERS` threads create the Services (type
LoadBalancer, the provider's `loadBalancerClass`, one TCP port, a selector
matching nothing: only the controller is measured); a watch on the namespace,
read as raw JSON lines (the Python client's model decoding would lag behind
a fast controller and inflate its figures), records when each Service's
`status.loadBalancer.ingress` first appears.

Guarantees: per-Service latency is from the moment its create request was
sent to the watch event carrying its ingress (both on this machine's
monotonic clock); `all_seconds` is from the first create sent to the last
ingress seen; a Service without an ingress after `timeout` is counted, not
dropped (`missing`), and the figures then say so.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubernetes import client

WORKERS = 32


@dataclass(frozen=True)
class BurstResult:
    count: int
    missing: int
    create_seconds: float
    all_seconds: float
    p50_seconds: float
    p99_seconds: float


def _service(name: str, lb_class: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(
            type="LoadBalancer",
            load_balancer_class=lb_class,
            selector={"bench": "nothing"},
            ports=[client.V1ServicePort(port=80, target_port=8080, protocol="TCP")],
        ),
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class _Watcher(threading.Thread):
    """Records the monotonic time each Service of the namespace first shows an ingress."""

    def __init__(self, api: client.ApiClient, namespace: str, resource_version: str) -> None:
        super().__init__(daemon=True, name=f"watch-{namespace}")
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.resource_version = resource_version
        self.seen: dict[str, float] = {}
        self.stopped = threading.Event()

    def _handle(self, line: bytes) -> None:
        event: dict[str, Any] = json.loads(line)
        item = event.get("object") or {}
        if event.get("type") == "BOOKMARK":
            return
        self.resource_version = (item.get("metadata") or {}).get(
            "resourceVersion", self.resource_version
        )
        ingress = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        name = (item.get("metadata") or {}).get("name")
        if ingress and name and name not in self.seen:
            self.seen[name] = time.monotonic()

    def run(self) -> None:
        while not self.stopped.is_set():
            response = self.core.list_namespaced_service(
                self.namespace,
                watch=True,
                resource_version=self.resource_version,
                timeout_seconds=30,
                _preload_content=False,
            )
            buffer = b""
            try:
                for chunk in response.stream(65536):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            self._handle(line)
                    if self.stopped.is_set():
                        break
            finally:
                response.release_conn()


def run_burst(
    api: client.ApiClient, *, namespace: str, lb_class: str, count: int, timeout: float
) -> BurstResult:
    """Create `count` Services in `namespace` (which must exist, empty) at once."""
    core = client.CoreV1Api(api)
    start_rv = core.list_namespaced_service(namespace).metadata.resource_version
    watcher = _Watcher(api, namespace, start_rv)
    watcher.start()
    sent: dict[str, float] = {}

    def create(index: int) -> None:
        name = f"lb-{index:04d}"
        sent[name] = time.monotonic()
        core.create_namespaced_service(namespace, _service(name, lb_class))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(create, range(count)))
    created = time.monotonic() - started
    deadline = started + timeout
    while len(watcher.seen) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stopped.set()
    seen = dict(watcher.seen)
    latencies = [seen[name] - sent[name] for name in sent if name in seen]
    missing = count - len(latencies)
    if not latencies:
        return BurstResult(count, missing, created, float("inf"), float("inf"), float("inf"))
    last = max(seen.values()) - started if not missing else float("inf")
    return BurstResult(
        count=count,
        missing=missing,
        create_seconds=round(created, 2),
        all_seconds=round(last, 2),
        p50_seconds=round(statistics.median(latencies), 3),
        p99_seconds=round(_percentile(latencies, 0.99), 3),
    )
