"""API objects become domain values once, at the boundary."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from kubernetes import client

from lbcommon.kube.convert import ingress_to_api, node_from_api, service_from_api
from lbcommon.logs import StructuredFormatter
from lbcommon.model import (
    SOURCE_RANGES_ANNOTATION,
    Ingress,
    IPMode,
    Protocol,
    SessionAffinity,
    TrafficPolicy,
)

pytestmark = pytest.mark.unit

WIRE_SERVICE = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "u-1",
        "finalizers": ["service.kubernetes.io/load-balancer-cleanup"],
        "annotations": {SOURCE_RANGES_ANNOTATION: "10.0.0.0/8"},
        "deletionTimestamp": "2026-11-23T00:00:00Z",
    },
    "spec": {
        "type": "LoadBalancer",
        "loadBalancerClass": "x.io/lb",
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
            {"port": 80, "nodePort": 30080},
        ],
        "loadBalancerIP": "198.18.0.201",
        "loadBalancerSourceRanges": ["198.18.1.0/24"],
        "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 31999,
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
        "ipFamilies": ["IPv4"],
        "allocateLoadBalancerNodePorts": False,
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "198.18.0.201", "ipMode": "VIP"}]}},
}


def test_wire_service() -> None:
    spec = service_from_api(WIRE_SERVICE)
    assert spec.key == "shop/web"
    assert [(p.name, p.protocol, p.port, p.node_port) for p in spec.ports] == [
        ("dns", Protocol.UDP, 53, 30053),
        ("", Protocol.TCP, 80, 30080),
    ]
    assert spec.load_balancer_ip == "198.18.0.201"
    assert spec.source_ranges == ("198.18.1.0/24",)
    assert spec.source_ranges_annotation == "10.0.0.0/8"
    assert spec.external_traffic_policy is TrafficPolicy.LOCAL
    assert spec.health_check_node_port == 31999
    assert spec.session_affinity is SessionAffinity.CLIENT_IP
    assert spec.affinity_timeout == 60
    assert spec.allocate_node_ports is False
    assert spec.deleting
    assert spec.ingress == (Ingress(ip="198.18.0.201", ip_mode=IPMode.VIP),)


def test_client_model_service_matches_wire_form() -> None:
    """What the client's models serialise to is the wire form convert reads."""
    model = client.V1Service(
        metadata=client.V1ObjectMeta(name="web", namespace="shop", uid="u-1"),
        spec=client.V1ServiceSpec(
            type="LoadBalancer", ports=[client.V1ServicePort(port=80, node_port=30080)]
        ),
    )
    spec = service_from_api(client.ApiClient().sanitize_for_serialization(model))
    assert (spec.key, spec.ports[0].node_port, spec.ports[0].protocol) == (
        "shop/web",
        30080,
        Protocol.TCP,
    )
    assert spec.affinity_timeout == 10800  # the Kubernetes default


@pytest.mark.parametrize(
    ("node", "eligible"),
    [
        (
            {
                "metadata": {"name": "n"},
                "status": {
                    "addresses": [
                        {"type": "Hostname", "address": "n"},
                        {"type": "InternalIP", "address": "198.18.0.10"},
                    ]
                },
            },
            True,
        ),
        (
            {
                "metadata": {
                    "name": "n",
                    "labels": {"node.kubernetes.io/exclude-from-external-load-balancers": ""},
                },
                "status": {"addresses": [{"type": "InternalIP", "address": "198.18.0.10"}]},
            },
            False,
        ),
        (
            {
                "metadata": {"name": "n"},
                "spec": {
                    "taints": [{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}]
                },
                "status": {"addresses": [{"type": "InternalIP", "address": "198.18.0.10"}]},
            },
            False,
        ),
        (
            {
                "metadata": {"name": "n"},
                "status": {"addresses": [{"type": "ExternalIP", "address": "198.18.0.10"}]},
            },
            False,
        ),
    ],
    ids=["internal-ip", "excluded", "autoscaler-taint", "no-internal-ip"],
)
def test_node(node: dict[str, object], eligible: bool) -> None:
    assert node_from_api(node).eligible is eligible


def test_convert_does_not_load_the_kubernetes_client() -> None:
    code = "import sys, lbcommon.kube.convert; sys.exit('kubernetes' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_ingress_round_trip() -> None:
    assert ingress_to_api(
        (Ingress(ip="198.18.0.200", ip_mode=IPMode.VIP), Ingress(hostname="lb.example"))
    ) == [
        {"ip": "198.18.0.200", "ipMode": "VIP"},
        {"hostname": "lb.example"},
    ]


def test_log_lines_carry_structured_fields() -> None:
    record = logging.makeLogRecord(
        {"msg": "ensured", "levelname": "INFO", "name": "x", "service": "a/b", "provider": "local"}
    )
    line = StructuredFormatter("%(message)s").format(record)
    assert line == "ensured provider=local service=a/b"
