"""The local multi-node cluster: `LocalCluster(workers=2).up()` ... `.down()`.

Guarantees:
- `up()` first removes whatever a previous (possibly crashed) cluster left,
  adds the root namespace's safety route before anything else, and returns
  only when every node is Ready and CoreDNS answers through the kube-dns
  Service from a node; on any failure it tears down what it started and
  re-raises;
- `down()` (also `localcluster down` from another process) leaves no
  process, namespace, link, route, mount, cgroup or state file behind;
- with `detached=True` (the CLI) the cluster outlives the Python process;
  otherwise its daemons die with it, and the next `up` cleans the rest.

Address plan (DESIGN.md, changed in docs/local-cluster.md): bridge lbk0
198.18.0.1/24 (the apiserver listens there), nodes 198.18.0.10+, Services
198.18.16.0/20 (DNS at .10), pods 198.19.0.0/18 with one /24 per node routed
via the node's IP, and the outside world (the client network) 198.19.100.0/24
behind a router namespace at 198.18.0.2 (see outside.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from kubernetes import client, config

from localcluster import addons, cgroups, incluster, netns, outside, teardown
from localcluster.build import ensure_cluster_binaries
from localcluster.controlplane import ControlPlane, ControlPlaneSettings
from localcluster.imagebuild import ImageBuilder, agnhost_recipe, project_recipes
from localcluster.imagebuild.recipes import upstream_agnhost_sources
from localcluster.images import build_cluster_images
from localcluster.node import ClusterContext, Node, NodeError, NodeSpec, node_specs, run_all
from localcluster.state import ClusterRecord, NodeRecord, busy_reason, lock, state_dir
from localcluster.versions import KUBERNETES_VERSION

log = logging.getLogger(__name__)

SERVICE_CIDR = "198.18.16.0/20"
CLUSTER_CIDR = "198.19.0.0/18"
CLUSTER_DNS = "198.18.16.10"
DNS_PROBE_NAME = "kubernetes.default.svc.cluster.local"
BUSYBOX = "/bin/busybox"


class ClusterError(RuntimeError):
    """The local cluster did not come up; the message says which part failed."""


class ClusterBusyError(ClusterError):
    """Another cluster runs on this machine and may not be replaced."""


def _say(message: str) -> None:
    print(f"lbctl: {message}", file=sys.stderr, flush=True)


class LocalCluster:
    """A control plane plus `workers` worker nodes, each a network namespace."""

    def __init__(
        self,
        workers: int = 2,
        *,
        version: str = KUBERNETES_VERSION,
        directory: Path | None = None,
        detached: bool = False,
        progress: Callable[[str], None] = _say,
        ready_timeout: float = 180.0,
        busy_timeout: float = 1800.0,
        load_balancing: bool = True,
    ) -> None:
        """`load_balancing`: deploy lbctl and nodeproxy in-cluster from their images
        (deploy/overlays/local), as users run them. Off, the cluster has no
        LoadBalancer provider; localcluster.loadbalancing can run both as host
        processes instead (benchmarks, debugging)."""
        self.specs: list[NodeSpec] = node_specs(workers)
        self.version = version
        self.directory = directory or state_dir()
        self.detached = detached
        self.say = progress
        self.ready_timeout = ready_timeout
        self.busy_timeout = busy_timeout
        self.load_balancing = load_balancing
        self.control_plane: ControlPlane | None = None
        self.nodes: list[Node] = []
        self.phases: dict[str, float] = {}
        self._record: ClusterRecord | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "control-plane" / "admin.kubeconfig"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.spec.name == name)

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    # -- lifecycle --------------------------------------------------------------

    def up(self) -> Self:
        """Start the cluster; wait while another process's cluster is in use."""
        deadline = time.monotonic() + self.busy_timeout
        waiting = False
        while True:
            with lock():
                busy = busy_reason(self.directory)
                if busy is None:
                    self._replace_and_start()
                    return self
            reason, wait = busy
            if not wait or time.monotonic() > deadline:
                raise ClusterBusyError(reason)
            if not waiting:
                self.say(f"waiting: {reason}")
                waiting = True
            time.sleep(2)

    def _replace_and_start(self) -> None:
        started = time.monotonic()
        down(self.directory)
        try:
            self._up(started)
        except BaseException:
            self.say("start failed; removing what was started")
            self._teardown()
            raise

    def down(self) -> None:
        with lock():
            self._teardown()

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.phases[name] = round(now - since, 2)
        if self._record is not None:
            self._record.phases = dict(self.phases)
            self._record.save(self.directory)
        return now

    def _up(self, started: float) -> None:
        t = started
        self.say(f"building or finding Kubernetes {self.version}, containerd, CoreDNS")
        binaries = ensure_cluster_binaries(self.version)
        tarballs = build_cluster_images(binaries) + self._built_images(binaries)
        t = self._phase("build", t)

        netns.ensure_safety_net()
        cgroup_root = cgroups.cluster_root()
        self._record = ClusterRecord(
            version=self.version,
            kubeconfig=str(self.kubeconfig),
            apiserver=f"https://{netns.BRIDGE_ADDRESS}:6443",
            cgroup_root=cgroup_root,
            nodes=[NodeRecord(s.name, s.address, s.control_plane) for s in self.specs],
            owner_pid=0 if self.detached else os.getpid(),
        )
        self._record.save(self.directory)
        netns.ensure_bridge()
        outside.create()

        self.say("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
        self.control_plane = ControlPlane(
            ControlPlaneSettings(
                bind_address=netns.BRIDGE_ADDRESS,
                service_cidr=SERVICE_CIDR,
                cluster_cidr=CLUSTER_CIDR,
                workdir=self.directory / "control-plane",
                scheduler=True,
                detached=self.detached,
                kubernetes_version=self.version,
                extra_apiserver_flags=("--kubelet-preferred-address-types=InternalIP,Hostname",),
            )
        ).start()
        self._record.pids |= {p.name: p.pid for p in self.control_plane.processes if p.pid}
        t = self._phase("control_plane", t)

        ctx = ClusterContext(
            state_dir=self.directory,
            apiserver_url=self.control_plane.url,
            ca=self.control_plane.ca,
            cluster_dns=CLUSTER_DNS,
            cluster_cidr=CLUSTER_CIDR,
            cgroup_root=cgroup_root,
            binaries=binaries,
            detached=self.detached,
        )
        self.say(f"starting {len(self.specs)} nodes: {', '.join(s.name for s in self.specs)}")
        self.nodes = [Node(spec, ctx) for spec in self.specs]
        for node in self.nodes:
            self._record.cgroups_created += node.prepare()
            self._record.save(self.directory)
            outside.route_from_node(node.spec.name)
            node.start_containerd()
        run_all([c for node in self.nodes for c in node.import_images_command(tarballs)])
        for node in self.nodes:
            node.start_kubernetes()
            self._record.pids |= {f"{node.spec.name}/{k}": v for k, v in node.pids().items()}
        self._record.save(self.directory)

        api = self.api_client()
        try:
            self._wire_pod_routes(api)
            cp_node = next(s.name for s in self.specs if s.control_plane)
            addons.label_control_plane(api, cp_node)
            addons.apply_coredns(api, cluster_ip=CLUSTER_DNS)
            self._wait_nodes_ready(api)
            t = self._phase("nodes_ready", t)
            self._wait_dns()
            t = self._phase("dns_serving", t)
        finally:
            api.close()
        if self.load_balancing:
            incluster.deploy(
                self.kubeconfig, nodes=len(self.nodes), say=self.say, timeout=self.ready_timeout
            )
            t = self._phase("load_balancing", t)
        self.phases["total"] = round(time.monotonic() - started, 2)
        self._record.ready = True
        self._record.phases = dict(self.phases)
        self._record.save(self.directory)
        self.say(f"cluster ready in {self.phases['total']:.1f}s ({self._phase_summary()})")
        self.say(f"kubeconfig: {self.kubeconfig}")

    def _built_images(self, binaries: dict[str, Path]) -> list[Path]:
        """Images built from Dockerfiles: agnhost as upstream's, lbctl and nodeproxy."""
        porter = upstream_agnhost_sources() / "porter"
        recipes = [agnhost_recipe(agnhost=binaries["agnhost"], porter=porter)]
        if self.load_balancing:
            project = project_recipes()
            recipes += [project[name] for name in incluster.IMAGES]
        builder = ImageBuilder()
        return [builder.build(recipe).archive for recipe in recipes]

    def _phase_summary(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items() if k != "total")

    def _deadline_loop(self, what: str) -> Callable[[], None]:
        deadline = time.monotonic() + self.ready_timeout

        def tick() -> None:
            for node in self.nodes:
                node.check_running()
            if time.monotonic() > deadline:
                raise ClusterError(f"{what} not done after {self.ready_timeout:.0f}s")
            time.sleep(0.25)

        return tick

    def _wire_pod_routes(self, api: client.ApiClient) -> None:
        """Wait until every node has a podCIDR, then route each /24 via its node."""
        core = client.CoreV1Api(api)
        tick = self._deadline_loop("node registration")
        wanted = {s.name: s.address for s in self.specs}
        while True:
            cidrs = {
                n.metadata.name: n.spec.pod_cidr
                for n in core.list_node().items
                if n.metadata.name in wanted and n.spec.pod_cidr
            }
            if len(cidrs) == len(wanted):
                break
            tick()
        by_address = {wanted[name]: cidr for name, cidr in cidrs.items()}
        netns.install_pod_routes(by_address, {s.address: s.name for s in self.specs})
        outside.route_pods(by_address)
        assert self._record is not None
        for record in self._record.nodes:
            record.pod_cidr = cidrs[record.name]
        self._record.save(self.directory)
        self.say(
            "nodes registered; pod routes installed: "
            + ", ".join(f"{name} {cidr}" for name, cidr in sorted(cidrs.items()))
        )

    def _wait_nodes_ready(self, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        tick = self._deadline_loop("node readiness")
        while True:
            ready = [
                n.metadata.name
                for n in core.list_node().items
                if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            ]
            if len(ready) == len(self.specs):
                self.say(f"{len(ready)} nodes Ready")
                return
            tick()

    def _wait_dns(self) -> None:
        """Resolve the kubernetes Service name through kube-dns from a node."""
        probe = self.nodes[-1]
        tick = self._deadline_loop("CoreDNS")
        while True:
            result = probe.exec(
                [BUSYBOX, "nslookup", "-timeout=1", DNS_PROBE_NAME, CLUSTER_DNS], timeout=10
            )
            if result.returncode == 0 and "198.18.16.1" in result.stdout:
                self.say(f"CoreDNS serving at {CLUSTER_DNS}")
                return
            tick()

    def _teardown(self) -> None:
        record = ClusterRecord.load(self.directory)
        teardown.teardown(
            self.directory,
            cgroup_root=record.cgroup_root if record else cgroups.cluster_root(),
            cgroups_created=record.cgroups_created if record else [],
        )
        # Reap our own children (already killed above) so none stays a zombie.
        for node in self.nodes:
            node.stop()
        if self.control_plane is not None:
            self.control_plane.stop()
        self.nodes = []
        self.control_plane = None


def down(directory: Path | None = None) -> bool:
    """Tear down the cluster in `directory` (or leftovers of one); True if any existed."""
    directory = directory or state_dir()
    existed = directory.exists() or bool(teardown.processes_using(directory))
    existed = existed or bool(netns.list_netns(teardown.NETNS_PREFIX))
    record = ClusterRecord.load(directory)
    teardown.teardown(
        directory,
        cgroup_root=record.cgroup_root if record else cgroups.cluster_root(),
        cgroups_created=record.cgroups_created if record else [],
    )
    return existed


__all__ = ["ClusterBusyError", "ClusterError", "LocalCluster", "NodeError", "down"]
