"""Building a LoadBalancer Service's domain spec from compact test arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lbcommon.model import Protocol, ServicePort, ServiceSpec, SessionAffinity, TrafficPolicy


def service_spec(
    *,
    uid: str,
    name: str = "web",
    namespace: str = "default",
    ports: Sequence[tuple[int, str, int]] = ((80, "TCP", 30080),),
    ranges: Sequence[str] = (),
    affinity: SessionAffinity = SessionAffinity.NONE,
    policy: TrafficPolicy = TrafficPolicy.CLUSTER,
    health_port: int | None = None,
    ip: str | None = None,
    ip_families: tuple[str, ...] = ("IPv4",),
    annotations: Mapping[str, str] | None = None,
) -> ServiceSpec:
    """A class-less LoadBalancer Service; `ports` are (port, protocol, nodePort)."""
    return ServiceSpec(
        namespace=namespace,
        name=name,
        uid=uid,
        type="LoadBalancer",
        load_balancer_class=None,
        ports=tuple(
            ServicePort(f"p{i}", Protocol(proto), port, node_port)
            for i, (port, proto, node_port) in enumerate(ports)
        ),
        load_balancer_ip=ip,
        source_ranges=tuple(ranges),
        external_traffic_policy=policy,
        health_check_node_port=health_port,
        session_affinity=affinity,
        ip_families=ip_families,
        annotations=tuple((annotations or {}).items()),
    )
