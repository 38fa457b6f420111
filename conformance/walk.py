"""A single endpoint walked across nodes, one node at a time (LB-4, NP-5).

Local traffic policy lives or dies by where the one endpoint is, so the checks
move a single netexec pod from node to node and look at each step. The walk
covers every node that may receive load-balancer traffic (ready, with an
address, not labelled `node.kubernetes.io/exclude-from-external-load-balancers`),
control planes included when they carry no such label, and so the node that
announces or fronts the address too, wherever that is.

Guarantees: at each step exactly one pod of the app exists (the previous one
is gone before the next is created, so no terminating endpoint blurs the
step), and `step` sees the pod once it is Ready.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from conformance import backends
from conformance import manifests as m
from conformance.kube import Namespace, NodeInfo, PodInfo
from conformance.waiting import wait_until

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
#: how long a deleted pod may take to disappear (grace period 0)
GONE_TIMEOUT = 60.0


def load_balancer_nodes(nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
    """The nodes a load balancer may send traffic to, by name."""
    return sorted(
        (n for n in nodes if n.ready and n.internal_ip and EXCLUDE_LABEL not in n.labels),
        key=lambda n: n.name,
    )


def walk(
    ns: Namespace,
    app: str,
    nodes: Sequence[NodeInfo],
    step: Callable[[NodeInfo, PodInfo], None],
) -> None:
    """Put the app's only pod on each of `nodes` in turn and call `step` there."""
    previous: str | None = None
    for index, node in enumerate(nodes):
        if previous is not None:
            _delete(ns, previous)
        name = f"{app}-walk-{index}"
        ns.create(m.backend_pod(name, app, node=node.name))
        pod = ns.wait_pod_ready(name, timeout=backends.POD_READY_TIMEOUT)
        step(node, pod)
        previous = name


def _delete(ns: Namespace, name: str) -> None:
    ns.delete_pod(name)
    wait_until(f"pod {name} gone", lambda: ns.find_pod(name) is None, timeout=GONE_TIMEOUT)
