"""Translate Kubernetes API objects in wire form into domain values, once.

Input is the camelCase JSON form (a dict, as a list body or a watch event
carries it); the informers call these once per resourceVersion, so nothing
past the boundary sees a raw object. Pure functions: no I/O, and nothing from
the Kubernetes client is imported. Missing required fields raise KeyError,
malformed values ValueError or TypeError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbcommon.model import (
    EXCLUDE_LABEL,
    SOURCE_RANGES_ANNOTATION,
    TO_BE_DELETED_TAINT,
    Ingress,
    IPMode,
    LeaseRecord,
    NodeInfo,
    Protocol,
    ServicePort,
    ServiceSpec,
    SessionAffinity,
    TrafficPolicy,
)

ZONE_LABEL = "topology.kubernetes.io/zone"


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    current: Any = data
    for part in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def service_from_api(data: Mapping[str, Any]) -> ServiceSpec:
    """Translate a v1 Service (wire form)."""
    meta = data.get("metadata") or {}
    spec = data.get("spec") or {}
    annotations = meta.get("annotations") or {}
    ports = tuple(
        ServicePort(
            name=p.get("name") or "",
            protocol=_protocol(p.get("protocol")),
            port=int(p["port"]),
            node_port=p.get("nodePort"),
        )
        for p in spec.get("ports") or []
    )
    timeout = _get(spec, "sessionAffinityConfig", "clientIP", "timeoutSeconds")
    ingress = tuple(
        Ingress(
            ip=item.get("ip"),
            hostname=item.get("hostname"),
            ip_mode=IPMode(item["ipMode"]) if item.get("ipMode") else None,
        )
        for item in _get(data, "status", "loadBalancer", "ingress") or []
    )
    return ServiceSpec(
        namespace=meta.get("namespace") or "default",
        name=meta["name"],
        uid=meta.get("uid") or "",
        type=spec.get("type") or "ClusterIP",
        load_balancer_class=spec.get("loadBalancerClass"),
        ports=ports,
        load_balancer_ip=spec.get("loadBalancerIP") or None,
        source_ranges=tuple(spec.get("loadBalancerSourceRanges") or ()),
        source_ranges_annotation=annotations.get(SOURCE_RANGES_ANNOTATION),
        external_traffic_policy=TrafficPolicy(spec.get("externalTrafficPolicy") or "Cluster"),
        health_check_node_port=spec.get("healthCheckNodePort"),
        session_affinity=SessionAffinity(spec.get("sessionAffinity") or "None"),
        affinity_timeout=int(timeout) if timeout else 10800,
        ip_families=tuple(spec.get("ipFamilies") or ("IPv4",)),
        allocate_node_ports=spec.get("allocateLoadBalancerNodePorts") is not False,
        annotations=tuple(sorted(annotations.items())),
        finalizers=tuple(meta.get("finalizers") or ()),
        deleting=bool(meta.get("deletionTimestamp")),
        ingress=ingress,
        conditions=tuple(
            c["type"] for c in _get(data, "status", "conditions") or [] if c.get("status") == "True"
        ),
    )


def _protocol(value: str | None) -> Protocol:
    return Protocol(value or "TCP")


def node_from_api(data: Mapping[str, Any]) -> NodeInfo:
    """Translate a v1 Node (wire form)."""
    meta = data.get("metadata") or {}
    labels = meta.get("labels") or {}
    addresses = _get(data, "status", "addresses") or []
    internal = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), None)
    taints = _get(data, "spec", "taints") or []
    return NodeInfo(
        name=meta["name"],
        internal_ip=internal,
        zone=labels.get(ZONE_LABEL),
        provider_id=_get(data, "spec", "providerID"),
        excluded=EXCLUDE_LABEL in labels,
        deleting=bool(meta.get("deletionTimestamp")),
        to_be_deleted=any(t.get("key") == TO_BE_DELETED_TAINT for t in taints),
    )


def ingress_to_api(ingress: tuple[Ingress, ...]) -> list[dict[str, str]]:
    """The status.loadBalancer.ingress list for a patch."""
    items: list[dict[str, str]] = []
    for entry in ingress:
        item: dict[str, str] = {}
        if entry.ip:
            item["ip"] = entry.ip
        if entry.hostname:
            item["hostname"] = entry.hostname
        if entry.ip_mode:
            item["ipMode"] = entry.ip_mode.value
        items.append(item)
    return items


def lease_from_api(obj: Mapping[str, Any]) -> LeaseRecord:
    """Translate a Lease in wire form (a dict, as a watch event or JSON body carries it)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseRecord(
        name=str(meta["name"]),
        holder=str(spec.get("holderIdentity") or ""),
        renew_time=str(spec.get("renewTime") or ""),
        duration=int(duration) if duration is not None else None,
        transitions=int(spec.get("leaseTransitions") or 0),
        acquire_time=str(spec.get("acquireTime") or ""),
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        version=str(meta.get("resourceVersion") or ""),
    )
