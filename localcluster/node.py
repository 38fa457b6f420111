"""One node of the local cluster: a network namespace running containerd, kubelet, kube-proxy.

Guarantees:
- a node's processes run in its network namespace (eth0 on `lbk0`, its own
  IP) and in its own mount namespace (see mountns.py), inside its own cgroup
  subtree (the kubelet's cgroupRoot), so containers join the node's network
  through CNI exactly as on a real machine;
- every file and socket of the node lives below `<state>/nodes/<name>`, and
  every daemon's command line names that directory, which is how teardown
  finds them after a crash;
- `start_runtime` returns once containerd serves its socket and holds the
  cluster's images; `start_kubernetes` starts kubelet and kube-proxy and
  returns at once (readiness is observed through the API).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster import cgroups, containerd, kubelet, mountns, netns, pki
from localcluster.processes import Supervised

FIRST_NODE_HOST = 10
MAX_NODES = 40


class NodeError(RuntimeError):
    """A node component failed to start; the message has its log tail."""


@dataclass(frozen=True)
class NodeSpec:
    """Name, address and role of one node."""

    name: str
    address: str
    control_plane: bool = False


def node_specs(workers: int, prefix: str = "lbctl") -> list[NodeSpec]:
    """The control-plane node and `workers` workers, on 198.18.0.10 and up."""
    if not 0 <= workers < MAX_NODES:
        raise ValueError(f"workers must be between 0 and {MAX_NODES - 1}, not {workers}")
    specs = [NodeSpec(f"{prefix}-control-plane", f"198.18.0.{FIRST_NODE_HOST}", True)]
    specs += [
        NodeSpec(f"{prefix}-worker-{i}", f"198.18.0.{FIRST_NODE_HOST + i}")
        for i in range(1, workers + 1)
    ]
    return specs


@dataclass(frozen=True)
class ClusterContext:
    """What every node needs from the cluster."""

    state_dir: Path
    apiserver_url: str
    ca: pki.CertificateAuthority
    cluster_dns: str
    cluster_cidr: str
    cgroup_root: str
    binaries: Mapping[str, Path]
    detached: bool


class Node:
    """The processes and plumbing of one node."""

    def __init__(self, spec: NodeSpec, ctx: ClusterContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self.dir = ctx.state_dir / "nodes" / spec.name
        self.mount_handle = ctx.state_dir / "mnt" / spec.name
        self.runtime = containerd.ContainerdPaths(self.dir / "containerd")
        self.cgroup = f"{ctx.cgroup_root}/{spec.name}"
        self.processes: list[Supervised] = []
        self.kubelet = kubelet.KubeletSettings(
            node_name=spec.name,
            node_ip=spec.address,
            node_dir=self.dir,
            cgroup_root=self.cgroup,
            runtime_endpoint=self.runtime.endpoint,
            cluster_dns=ctx.cluster_dns,
            ca_file=ctx.ca.pair.cert,
            control_plane=spec.control_plane,
        )
        self.proxy = kubelet.ProxySettings(
            node_name=spec.name,
            node_ip=spec.address,
            node_dir=self.dir,
            cluster_cidr=ctx.cluster_cidr,
        )

    # -- plumbing -------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create namespaces, cgroups, certificates and configs; return created cgroups."""
        self.dir.mkdir(parents=True, exist_ok=True)
        created = cgroups.ensure(self.cgroup)
        netns.create_node_netns(self.spec.name, self.spec.address)
        mountns.create(self.mount_handle, self.dir)
        self._write_credentials()
        containerd.write_config(self.runtime)
        kubelet.write_kubelet_files(self.kubelet)
        kubelet.write_proxy_files(self.proxy)
        return created

    def _write_credentials(self) -> None:
        ca = self.ctx.ca
        user = f"system:node:{self.spec.name}"
        node_cert = ca.issue(
            f"kubelet-{self.spec.name}", common_name=user, organization="system:nodes"
        )
        pki.write_kubeconfig(
            self.kubelet.kubeconfig,
            server=self.ctx.apiserver_url,
            ca=ca.pair.cert,
            client=node_cert,
            user=user,
        )
        proxy_cert = ca.issue(f"kube-proxy-{self.spec.name}", common_name="system:kube-proxy")
        pki.write_kubeconfig(
            self.proxy.kubeconfig,
            server=self.ctx.apiserver_url,
            ca=ca.pair.cert,
            client=proxy_cert,
            user="system:kube-proxy",
        )

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this node's network and mount namespaces."""
        return mountns.enter_argv(self.mount_handle, netns.NETNS_DIR / self.spec.name, argv)

    def exec(self, argv: Sequence[str], *, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command in the node (its network and mount namespaces)."""
        return subprocess.run(
            self.wrap(argv), capture_output=True, text=True, timeout=timeout, check=False
        )

    # -- processes ------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str]) -> Supervised:
        env = dict(os.environ)
        env["PATH"] = f"{self.ctx.binaries['containerd'].parent}:{env.get('PATH', '')}"
        proc = Supervised(
            name,
            self.wrap(argv),
            log_dir=self.dir / "logs",
            env=env,
            die_with_parent=not self.ctx.detached,
        ).start()
        self.processes.append(proc)
        return proc

    def start_containerd(self) -> Supervised:
        proc = self._spawn(
            "containerd", containerd.command(self.ctx.binaries["containerd"], self.runtime)
        )
        proc.wait_ready(self.runtime.socket.exists, timeout=30)
        return proc

    def import_images_command(self, tarballs: Sequence[Path]) -> list[list[str]]:
        """One `ctr images import` command per tarball (run them concurrently)."""
        return [
            containerd.import_command(self.ctx.binaries["ctr"], self.runtime, tarball)
            for tarball in tarballs
        ]

    def start_kubernetes(self) -> None:
        self._spawn("kubelet", kubelet.kubelet_command(self.ctx.binaries["kubelet"], self.kubelet))
        self._spawn(
            "kube-proxy", kubelet.proxy_command(self.ctx.binaries["kube-proxy"], self.proxy)
        )

    def check_running(self) -> None:
        """Raise NodeError if one of the node's daemons has exited."""
        for proc in self.processes:
            if not proc.running():
                raise NodeError(f"{self.spec.name}: {proc.name} exited:\n{proc.log_tail()}")

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes if p.pid is not None}

    def stop(self) -> None:
        """Stop the daemons (kube-proxy, kubelet, containerd); teardown does the rest."""
        while self.processes:
            self.processes.pop().stop(grace=5)


def run_all(commands: Sequence[Sequence[str]], *, timeout: float = 120) -> None:
    """Run commands concurrently; raise with the first failure's stderr."""
    procs = [
        subprocess.Popen(list(c), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    deadline = time.monotonic() + timeout
    failures = []
    for command, proc in zip(commands, procs, strict=True):
        _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        if proc.returncode != 0:
            failures.append(f"{' '.join(command)}: {err.strip()}")
    if failures:
        raise NodeError("\n".join(failures))
