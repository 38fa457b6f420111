"""`--conformance-cluster=kubeconfig`: an existing cluster (GKE, EKS, kind, anything).

Guarantees: the kubeconfig must exist (else `ClusterUnavailableError` says which
path was tried); nothing is created or deleted at the cluster level; runner
probes go only to addresses the cluster reports plus `--conformance-allow`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conformance.cluster.base import ClusterHandle, ClusterUnavailableError
from conformance.guard import DestinationGuard
from conformance.settings import SuiteSettings

DEFAULT_KUBECONFIG = Path("~/.kube/config")


@contextmanager
def existing_cluster(settings: SuiteSettings) -> Iterator[ClusterHandle]:
    """Use the cluster named by --conformance-kubeconfig, $KUBECONFIG or ~/.kube/config."""
    path = (settings.kubeconfig or DEFAULT_KUBECONFIG).expanduser()
    if not path.is_file():
        raise ClusterUnavailableError(f"kubeconfig {path} does not exist")
    yield ClusterHandle(
        name=f"kubeconfig {path}",
        kubeconfig=path,
        guard=DestinationGuard(settings.allow, frozen=False),
        runner_on_node_network=None,
    )
