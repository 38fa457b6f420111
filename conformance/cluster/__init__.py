"""How the suite gets a cluster: `--conformance-cluster=kubeconfig|kind|local`.

`open_cluster` is the one entry point; each mode lives in its own module.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from conformance.cluster.base import ClusterHandle, ClusterStartError, ClusterUnavailableError
from conformance.cluster.kind import kind_cluster
from conformance.cluster.kubeconfig import existing_cluster
from conformance.cluster.local import local_cluster
from conformance.settings import ClusterMode, SuiteSettings

__all__ = ["ClusterHandle", "ClusterStartError", "ClusterUnavailableError", "open_cluster"]


def open_cluster(settings: SuiteSettings) -> AbstractContextManager[ClusterHandle]:
    """The cluster the settings ask for, as a context manager."""
    if settings.mode is ClusterMode.KIND:
        return kind_cluster(settings)
    if settings.mode is ClusterMode.LOCAL:
        return local_cluster(settings)
    return existing_cluster(settings)
