"""What every way of getting a cluster hands to the suite.

Guarantees: a `ClusterHandle` names a kubeconfig that works for the whole
session and the guard for runner-side probes. Two failures, told apart by
type: `ClusterUnavailableError` (this kind of cluster cannot run here, e.g.
kind without Docker) carries the one-line reason every test is then skipped
with; `ClusterStartError` (the cluster the run relies on should be here and is
not, e.g. the local cluster did not start) carries the cause every test then
errors with, so the run fails loudly instead of passing as a skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conformance.guard import DestinationGuard


class ClusterUnavailableError(Exception):
    """This kind of cluster cannot run here; the message says why (tests skip)."""


class ClusterStartError(Exception):
    """The cluster the run relies on could not be started; the message says why
    (tests error)."""


@dataclass(frozen=True)
class ClusterHandle:
    """A running cluster the suite may use."""

    #: human name for reports: "local", "kind", "kubeconfig <path>"
    name: str
    kubeconfig: Path
    guard: DestinationGuard
    #: node IPs are reachable from this process (on the nodes' network or
    #: routed to it); None: not known, the suite probes the kubelet port once
    runner_on_node_network: bool | None
    #: the cluster's LoadBalancer provider is lbctl (events and finalizers
    #: can be checked by name)
    lb_provider_is_lbctl: bool = False
