"""The provider-neutral domain: what a Service asks for and what a provider builds.

Everything here is a frozen value. Raw Kubernetes objects are translated into
`ServiceSpec` and `NodeInfo` once, at the boundary (lbcommon.kube.convert); the
pure function in lbcommon.desired turns them into a `LoadBalancer`, the one input
every provider understands.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NewType

#: "namespace/name", the work-queue key of a Service.
ServiceKey = NewType("ServiceKey", str)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The finalizer upstream's service controller uses; we share it so a cluster
#: can move between the two controllers.
CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
#: Set with the finalizer; names the class whose controller provisioned the
#: Service, so cleanup never touches another controller's load balancer.
OWNER_ANNOTATION = "lbctl.io/load-balancer-class"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
#: kube-proxy's health endpoint, used for externalTrafficPolicy Cluster.
KUBE_PROXY_HEALTH_PORT = 10256


def service_key(namespace: str, name: str) -> ServiceKey:
    return ServiceKey(f"{namespace}/{name}")


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class TrafficPolicy(StrEnum):
    CLUSTER = "Cluster"
    LOCAL = "Local"


class SessionAffinity(StrEnum):
    NONE = "None"
    CLIENT_IP = "ClientIP"


class IPMode(StrEnum):
    """How traffic arrives: VIP keeps the ingress IP as destination; Proxy does not."""

    VIP = "VIP"
    PROXY = "Proxy"


@dataclass(frozen=True)
class ServicePort:
    name: str
    protocol: Protocol
    port: int
    node_port: int | None


@dataclass(frozen=True)
class ServiceSpec:
    """The parts of a Service the controller reads, taken from the API once."""

    namespace: str
    name: str
    uid: str
    type: str
    load_balancer_class: str | None
    ports: tuple[ServicePort, ...]
    load_balancer_ip: str | None = None
    source_ranges: tuple[str, ...] = ()
    source_ranges_annotation: str | None = None
    external_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    health_check_node_port: int | None = None
    session_affinity: SessionAffinity = SessionAffinity.NONE
    affinity_timeout: int = 10800
    ip_families: tuple[str, ...] = ("IPv4",)
    allocate_node_ports: bool = True
    annotations: tuple[tuple[str, str], ...] = ()
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    ingress: tuple[Ingress, ...] = ()
    #: types of the status conditions that are True
    conditions: tuple[str, ...] = ()

    @property
    def key(self) -> ServiceKey:
        return service_key(self.namespace, self.name)

    def annotation(self, name: str) -> str | None:
        return dict(self.annotations).get(name)


@dataclass(frozen=True)
class NodeInfo:
    """A Node as the controller sees it."""

    name: str
    internal_ip: str | None
    zone: str | None = None
    provider_id: str | None = None
    excluded: bool = False
    deleting: bool = False
    to_be_deleted: bool = False

    @property
    def eligible(self) -> bool:
        """Whether the node may receive load-balancer traffic.

        Readiness is deliberately not consulted (KEP-3458): the load balancer's
        own health checks decide, so a flapping control plane does not churn
        every load balancer's backends.
        """
        return not (self.excluded or self.deleting or self.to_be_deleted) and bool(self.internal_ip)


@dataclass(frozen=True)
class Backend:
    """A node that receives load-balancer traffic on its NodePorts."""

    name: str
    address: str
    zone: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True)
class FrontendPort:
    protocol: Protocol
    port: int
    #: None when the Service sets allocateLoadBalancerNodePorts: false; a
    #: provider whose load balancer targets node ports refuses it
    #: (`node_port_problems`), one that delivers to the ingress IP does not
    node_port: int | None
    name: str = ""


@dataclass(frozen=True)
class HealthCheck:
    """An HTTP check against every backend node."""

    port: int
    path: str = "/healthz"
    #: True for the per-Service check (externalTrafficPolicy Local)
    per_service: bool = False


@dataclass(frozen=True)
class LoadBalancer:
    """The desired load balancer of one Service: the input of every provider."""

    key: ServiceKey
    uid: str
    ports: tuple[FrontendPort, ...]
    backends: tuple[Backend, ...]
    health_check: HealthCheck
    requested_ip: str | None = None
    #: empty means open to all
    source_ranges: tuple[IPNetwork, ...] = ()
    traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    session_affinity: SessionAffinity = SessionAffinity.NONE
    affinity_timeout: int = 10800
    ip_family: str = "IPv4"
    options: tuple[tuple[str, str], ...] = field(default=())

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)

    def with_backends(self, backends: tuple[Backend, ...]) -> LoadBalancer:
        return replace(self, backends=backends)


@dataclass(frozen=True)
class Ingress:
    """One entry of status.loadBalancer.ingress."""

    ip: str | None = None
    hostname: str | None = None
    ip_mode: IPMode | None = None


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """One mutation a provider would make: the unit of `lbctl plan`."""

    action: Action
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        suffix = f": {self.detail}" if self.detail else ""
        return f"{self.action.value} {self.kind} {self.name}{suffix}"


@dataclass(frozen=True)
class OwnedResource:
    """A provider resource that carries our ownership marks."""

    kind: str
    name: str
    service: ServiceKey | None
    uid: str | None = None


@dataclass(frozen=True)
class LeaseRecord:
    """One Lease as the loops need it; times are the server's strings, compared only."""

    name: str
    holder: str = ""
    renew_time: str = ""
    #: leaseDurationSeconds, None when unset
    duration: int | None = None
    transitions: int = 0
    acquire_time: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    #: the resourceVersion this record was read at
    version: str = ""
