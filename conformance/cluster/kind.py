"""`--conformance-cluster=kind`: a throw-away kind cluster through pytest-kind.

Guarantees: without a reachable Docker engine nothing is downloaded or
started and `ClusterUnavailableError` says what is missing; with one, the cluster
is created for the session and deleted afterwards. Runner probes on kind go
to the node network of the kind bridge only (node and ingress addresses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conformance.cluster.base import ClusterHandle, ClusterUnavailableError
from conformance.guard import DestinationGuard
from conformance.settings import SuiteSettings

DOCKER_SOCKET = Path("/var/run/docker.sock")
CLUSTER_NAME = "lbctl-conformance"


def docker_missing_reason() -> str | None:
    """Why no Docker engine is usable here, or None when one answers."""
    if shutil.which("docker") is None:
        return "kind needs a Docker engine: no `docker` CLI on PATH"
    if not os.environ.get("DOCKER_HOST") and not DOCKER_SOCKET.exists():
        return f"kind needs a Docker engine: no DOCKER_HOST and no {DOCKER_SOCKET}"
    try:
        subprocess.run(["docker", "info"], capture_output=True, check=True, timeout=20)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        return f"kind needs a Docker engine: `docker info` failed ({err})"
    return None


@contextmanager
def kind_cluster(settings: SuiteSettings) -> Iterator[ClusterHandle]:
    """Create a kind cluster with pytest-kind; delete it on exit."""
    reason = docker_missing_reason()
    if reason:
        raise ClusterUnavailableError(reason)
    try:
        from pytest_kind import KindCluster
    except ImportError as err:
        raise ClusterUnavailableError(f"pytest-kind is not installed ({err})") from None
    cluster = KindCluster(CLUSTER_NAME, settings.kubeconfig)
    cluster.create()
    try:
        yield ClusterHandle(
            name="kind",
            kubeconfig=Path(cluster.kubeconfig_path),
            guard=DestinationGuard(settings.allow, frozen=False),
            runner_on_node_network=True,
        )
    finally:
        cluster.delete()
