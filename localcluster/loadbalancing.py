"""Host-process mode on the local cluster: lbctl (local provider) plus nodeproxy.

The default runs both in-cluster from their images (localcluster.incluster);
this mode, for benchmarks and debugging, runs them on the host instead, with
a cluster started `load_balancing=False` (`localcluster up --no-load-balancing`).

`LoadBalancing(cluster).start()` runs, as processes of this machine:
- one `lbctl run` in the root namespace, serving class-less LoadBalancer
  Services (`--default-class`) from the default pool 198.18.0.200-250, which
  lies on the node bridge's L2 so ARP reaches it;
- one `nodeproxy` per node, its data plane in the node's network namespace
  (`--netns`, interface eth0), announcing the IPs it owns on the bridge.

So a request from the root namespace (the "outside world" of DESIGN.md) to
an ingress IP is delivered at L2 to a healthy node, where kube-proxy
(ipMode VIP) takes it to a pod. `stop()` ends every process it started; the
processes also die with this Python process unless `detached`.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from localcluster.netns import LB_POOL
from localcluster.processes import ReadinessTimeoutError, Supervised

NODE_INTERFACE = "eth0"
#: one local cluster per machine, so fixed loopback ports cannot collide
CONTROLLER_METRICS_PORT = 10263
NODEPROXY_METRICS_PORT = 10270


def _script(name: str) -> str:
    """A console script of this environment (lbctl, nodeproxy)."""
    return str(Path(sys.executable).with_name(name))


def controller_command(kubeconfig: Path, *, pool: str, metrics_addr: str) -> list[str]:
    """`lbctl run` serving class-less LoadBalancer Services from `pool`."""
    return [
        _script("lbctl"),
        "run",
        f"--kubeconfig={kubeconfig}",
        "--default-class",
        f"--pool={pool}",
        f"--metrics-addr={metrics_addr}",
    ]


def nodeproxy_command(
    kubeconfig: Path,
    node: str,
    *,
    pool: str,
    metrics_addr: str,
    lease_namespace: str = "kube-system",
) -> list[str]:
    """`nodeproxy` for one node: its data plane in the node's network namespace."""
    return [
        _script("nodeproxy"),
        f"--kubeconfig={kubeconfig}",
        f"--netns={node}",
        f"--interface={NODE_INTERFACE}",
        f"--node-name={node}",
        f"--pool={pool}",
        f"--lease-namespace={lease_namespace}",
        f"--metrics-addr={metrics_addr}",
    ]


class LoadBalancing:
    """The controller and the data plane, started and stopped together."""

    def __init__(
        self,
        kubeconfig: Path,
        node_names: Sequence[str],
        *,
        log_dir: Path,
        pool: str = LB_POOL,
        detached: bool = False,
        lease_namespace: str = "kube-system",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.node_names = list(node_names)
        self.log_dir = log_dir
        self.pool = pool
        self.detached = detached
        self.lease_namespace = lease_namespace
        self.processes: list[Supervised] = []

    def start(self, *, ready_timeout: float = 30.0) -> Self:
        try:
            address = f"127.0.0.1:{CONTROLLER_METRICS_PORT}"
            controller = self._spawn(
                "lbctl",
                controller_command(self.kubeconfig, pool=self.pool, metrics_addr=address),
            )
            controller.wait_ready(_probe(f"http://{address}/healthz"), timeout=ready_timeout)
            for index, node in enumerate(self.node_names):
                address = f"127.0.0.1:{NODEPROXY_METRICS_PORT + index}"
                command = nodeproxy_command(
                    self.kubeconfig,
                    node,
                    pool=self.pool,
                    metrics_addr=address,
                    lease_namespace=self.lease_namespace,
                )
                proxy = self._spawn(f"nodeproxy-{node}", command)
                proxy.wait_ready(_probe(f"http://{address}/healthz"), timeout=ready_timeout)
        except (ReadinessTimeoutError, OSError):
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list[str]) -> Supervised:
        proc = Supervised(
            name, argv, log_dir=self.log_dir, die_with_parent=not self.detached
        ).start()
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        while self.processes:
            self.processes.pop().stop(grace=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _probe(url: str) -> Callable[[], bool]:
    return lambda: _http_ok(url)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
