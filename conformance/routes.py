"""Which way a probe from "outside the cluster" goes, and the record of the ways taken.

A probe to a load-balancer ingress always leaves from the runner: that is the
client a user has. A probe to a node's own address (a node port, a node
address listed in `externalIPs`) leaves from the runner when the runner
reaches the nodes, and otherwise from a host-network pod on another node: the
nearest thing to an outside client that a cluster with private nodes offers
(CONFORMANCE.md, "Outside means outside").

Guarantees:
- pure: `choose_route` is a function of the destination, the nodes'
  addresses, the nodes that may host a probe pod (in preference order) and
  whether the runner reaches nodes; the same question always gets the same
  answer, so a test's "where does my probe come from" and its probes agree;
- a pod route never uses the target node itself when another node can host
  the probe pod;
- `ProbeLog` records each probe's route label (`runner`, `pod:NODE`) and the
  ingress ipModes seen, per test, in first-seen order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RUNNER_LABEL = "runner"
POD_PREFIX = "pod:"
#: how Kubernetes reads an ingress without `ipMode` (the default since 1.30)
IP_MODE_UNSET = "VIP"


@dataclass(frozen=True)
class Route:
    """Where one probe leaves from: the runner (`node` None) or a host-network
    pod on `node`."""

    node: str | None = None

    @property
    def via_pod(self) -> bool:
        return self.node is not None

    @property
    def label(self) -> str:
        """`runner` or `pod:NODE`, as the report prints it."""
        return RUNNER_LABEL if self.node is None else f"{POD_PREFIX}{self.node}"


RUNNER = Route()


class NoProbeHostError(AssertionError):
    """A probe must go through a pod, and no node can host one."""


def choose_route(
    address: str,
    *,
    node_by_ip: Mapping[str, str],
    hosts: Sequence[str],
    runner_reaches_nodes: bool,
) -> Route:
    """The route of a probe to `address` (a literal IP the guard allowed).

    `node_by_ip` maps node InternalIPs to node names; `hosts` are the nodes
    that may run a host-network probe pod, best first.
    """
    target = node_by_ip.get(address)
    if target is None or runner_reaches_nodes:
        return RUNNER
    others = [h for h in hosts if h != target]
    if others:
        return Route(others[0])
    if target in hosts:
        return Route(target)
    raise NoProbeHostError(
        f"the runner does not reach node {target} ({address}) and no node can host a "
        "host-network probe pod"
    )


class ProbeLog:
    """What the probes of the current test did: their routes and the ipModes seen."""

    def __init__(self) -> None:
        self._routes: dict[str, None] = {}
        self._ip_modes: dict[str, None] = {}

    def route(self, route: Route) -> None:
        self._routes[route.label] = None

    def ip_modes(self, modes: Sequence[str]) -> None:
        """The ipMode of each ingress of a Service ('' where none is set)."""
        for mode in modes:
            self._ip_modes[mode or IP_MODE_UNSET] = None

    def take(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(route labels, ipModes) since the last `take`, and start afresh."""
        taken = tuple(self._routes), tuple(self._ip_modes)
        self._routes.clear()
        self._ip_modes.clear()
        return taken
