"""The conformance ids of CONFORMANCE.md, in spec order.

Guarantees: `SPEC` is the single list the report rows come from; every id a
test carries must be one of `SPEC_IDS` (the plugin rejects unknown ids at
collection time), and `spec_order` sorts ids the way the spec lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class SpecItem:
    """One behaviour of the spec: its id, its section and a short title."""

    id: str
    section: str
    title: str


def _items(section: str, *pairs: tuple[str, str]) -> list[SpecItem]:
    return [SpecItem(id=id_, section=section, title=title) for id_, title in pairs]


SPEC: Final[tuple[SpecItem, ...]] = (
    *_items(
        "ClusterIP",
        ("CIP-1", "ClusterIP spreads requests over all ready pods"),
        ("CIP-2", "port vs targetPort, named targetPort per pod"),
        ("CIP-3", "multi-port Services"),
        ("CIP-4", "endpoints follow pods"),
        ("CIP-5", "no ready endpoints refuses quickly"),
        ("CIP-6", "client IP preserved; hairpin"),
        ("CIP-7", "discovery: environment variables and DNS"),
        ("CIP-8", "sessionAffinity ClientIP and its timeout"),
        ("CIP-9", "TCP and UDP on the same port"),
    ),
    *_items(
        "Headless and StatefulSet",
        ("HL-1", "headless: one A record per ready pod"),
        ("HL-2", "StatefulSet pod DNS names"),
        ("HL-3", "publishNotReadyAddresses"),
    ),
    *_items(
        "ExternalName, selectorless, ExternalIPs",
        ("EN-1", "ExternalName CNAME and type switches"),
        ("SL-1", "selectorless Service with manual EndpointSlices"),
        ("EIP-1", "externalIPs"),
    ),
    *_items(
        "NodePort",
        ("NP-1", "NodePort on every node, from outside"),
        ("NP-2", "explicit, duplicate, out-of-range and released node ports"),
        ("NP-3", "externalTrafficPolicy Local on node ports"),
        ("NP-4", "one NodePort Service per StatefulSet pod"),
        ("NP-5", "healthCheckNodePort follows endpoints"),
    ),
    *_items(
        "LoadBalancer",
        ("LB-1", "ingress assigned and serving every port"),
        ("LB-2", "spec.loadBalancerIP honoured or warned"),
        ("LB-3", "loadBalancerSourceRanges"),
        ("LB-4", "externalTrafficPolicy Local through the load balancer"),
        ("LB-5", "sessionAffinity ClientIP through the load balancer"),
        ("LB-6", "UDP load balancers"),
        ("LB-7", "type changes and ingress lifecycle"),
        ("LB-8", "deletion removes every provider resource"),
        ("LB-9", "backend scaled to zero and back"),
        ("LB-10", "node changes"),
        ("LB-11", "no disruption during a rollout"),
        ("LB-12", "allocateLoadBalancerNodePorts: false"),
    ),
)

SPEC_IDS: Final[tuple[str, ...]] = tuple(item.id for item in SPEC)
_POSITION: Final[dict[str, int]] = {id_: index for index, id_ in enumerate(SPEC_IDS)}


def is_known(id_: str) -> bool:
    """True when `id_` is an id of the spec."""
    return id_ in _POSITION


def spec_order(id_: str) -> tuple[int, str]:
    """Sort key: spec position first; unknown ids after every known one."""
    return (_POSITION.get(id_, len(_POSITION)), id_)


def title(id_: str) -> str:
    """The short title of a spec id ('' for unknown ids)."""
    for item in SPEC:
        if item.id == id_:
            return item.title
    return ""
