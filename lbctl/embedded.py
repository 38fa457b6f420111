"""The embedded default on the local cluster: lbctl (local provider) plus nodeproxy.

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

from lbctl.cluster.processes import ReadinessTimeoutError, Supervised
from lbctl.settings import DEFAULT_POOL

NODE_INTERFACE = "eth0"
#: one local cluster per machine, so fixed loopback ports cannot collide
CONTROLLER_METRICS_PORT = 10263
NODEPROXY_METRICS_PORT = 10270


def _script(name: str) -> str:
    """A console script of this environment (lbctl, nodeproxy)."""
    return str(Path(sys.executable).with_name(name))


class LoadBalancing:
    """The controller and the data plane, started and stopped together."""

    def __init__(
        self,
        kubeconfig: Path,
        node_names: Sequence[str],
        *,
        log_dir: Path,
        pool: str = DEFAULT_POOL,
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
            controller = self._spawn(
                "lbctl",
                [
                    _script("lbctl"),
                    "run",
                    f"--kubeconfig={self.kubeconfig}",
                    "--default-class",
                    f"--pool={self.pool}",
                    f"--metrics-addr=127.0.0.1:{CONTROLLER_METRICS_PORT}",
                ],
            )
            controller.wait_ready(
                lambda: _http_ok(f"http://127.0.0.1:{CONTROLLER_METRICS_PORT}/healthz"),
                timeout=ready_timeout,
            )
            for index, node in enumerate(self.node_names):
                port = NODEPROXY_METRICS_PORT + index
                proxy = self._spawn(
                    f"nodeproxy-{node}",
                    [
                        _script("nodeproxy"),
                        f"--kubeconfig={self.kubeconfig}",
                        f"--netns={node}",
                        f"--interface={NODE_INTERFACE}",
                        f"--node-name={node}",
                        f"--pool={self.pool}",
                        f"--lease-namespace={self.lease_namespace}",
                        f"--metrics-addr=127.0.0.1:{port}",
                    ],
                )
                proxy.wait_ready(_probe(f"http://127.0.0.1:{port}/healthz"), timeout=ready_timeout)
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
