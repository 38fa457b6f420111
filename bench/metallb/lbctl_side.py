"""lbctl and nodeproxy as the local cluster deploys them (deploy/overlays/local), seen from a bench.

- `widen_pool` appends a range to the shared `lbctl-pool` ConfigMap (the one
  the lbctl Deployment and the nodeproxy DaemonSet read as LBCTL_POOL and
  NODEPROXY_POOL) and restarts both, as an operator would; `restore_pool`
  puts the original back. The on-bridge pool stays first, so addresses are
  still taken from it first.
- `leader_pid` is lbctl's process in the pod that holds the leader Lease.
- `kill_agent` SIGKILLs the nodeproxy of a node (kubelet restarts it, as it
  would after a crash); `wait_agents` waits for one on every node.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from localcluster import incluster
from localcluster.incluster import Kubectl
from metallb import procstat

LB_CLASS = "lbctl.io/lbctl"


def _pool_configmap(tool: Kubectl) -> str:
    deployment = tool.get("deployment", incluster.CONTROLLER)
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    for source in spec.get("envFrom") or []:
        if source.get("prefix") == "LBCTL_" and "configMapRef" in source:
            return str(source["configMapRef"]["name"])
    raise RuntimeError("the lbctl Deployment reads no ConfigMap with the LBCTL_ prefix")


def _restart(tool: Kubectl) -> None:
    for kind, name in (("deployment", incluster.CONTROLLER), ("daemonset", incluster.DATA_PLANE)):
        tool.run("rollout", "restart", f"{kind}/{name}", f"--namespace={incluster.NAMESPACE}")
    for kind, name in (("deployment", incluster.CONTROLLER), ("daemonset", incluster.DATA_PLANE)):
        tool.run(
            "rollout",
            "status",
            f"{kind}/{name}",
            f"--namespace={incluster.NAMESPACE}",
            "--timeout=180s",
            timeout=200,
        )


def current_pool(tool: Kubectl) -> str:
    configmap = tool.get("configmap", _pool_configmap(tool))
    return str((configmap.get("data") or {}).get("POOL", ""))


def set_pool(tool: Kubectl, pool: str) -> None:
    """Point lbctl and nodeproxy at `pool` (comma-separated) and restart both."""
    name = _pool_configmap(tool)
    patch = json.dumps({"data": {"POOL": pool}})
    tool.run("patch", "configmap", name, f"--namespace={incluster.NAMESPACE}", "--patch", patch)
    _restart(tool)


def leader_pod(tool: Kubectl) -> str:
    lease: dict[str, Any] = tool.get("lease", incluster.LEADER_LEASE)
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def leader_pid(tool: Kubectl, timeout: float = 60.0) -> int:
    """lbctl's pid in the leader's pod (after a restart, once a new leader holds the Lease)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = leader_pod(tool)
        pid = procstat.find_lbctl(holder) if holder else None
        if pid is not None:
            return pid
        time.sleep(1)
    raise RuntimeError(f"no lbctl process found for the leader {leader_pod(tool)!r}")


def kill_agent(node: str, nodes: list[str]) -> None:
    pid = procstat.find_nodeproxy(nodes).get(node)
    if pid is None:
        raise RuntimeError(f"no nodeproxy process in {node}'s network namespace")
    os.kill(pid, signal.SIGKILL)


def wait_agents(nodes: list[str], timeout: float = 120.0) -> dict[str, int]:
    """node -> nodeproxy pid, once every node runs one."""
    deadline = time.monotonic() + timeout
    found: dict[str, int] = {}
    while time.monotonic() < deadline:
        found = procstat.find_nodeproxy(nodes)
        if set(found) == set(nodes):
            return found
        time.sleep(0.5)
    raise RuntimeError(f"nodeproxy runs on {sorted(found)} only, not on every node of {nodes}")
