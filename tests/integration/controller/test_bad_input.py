"""Bad input never blocks other Services: 50 invalid beside 50 valid."""

from __future__ import annotations

import pytest
from kubernetes import client

from lbcommon.model import SOURCE_RANGES_ANNOTATION
from tests.integration.controller.conftest import ControllerHarness, events, lb_service
from tests.kubehelpers import wait_for

pytestmark = pytest.mark.integration

# What the apiserver accepts but a controller must refuse, with the field the
# Warning event must name. Kubernetes v1.37 itself rejects non-CIDR values and
# host bits in both the field and the annotation (only objects stored before
# that validation can still carry them: tests/unit/test_desired.py covers them).
INVALID = [
    (
        {"annotations": {SOURCE_RANGES_ANNOTATION: "2001:db8::/32"}},
        "load-balancer-source-ranges][0]",
    ),
    ({"source_ranges": ["10.0.0.0/8", "2001:db8::/32"]}, "spec.loadBalancerSourceRanges[1]"),
    ({"load_balancer_ip": "198.18.0.99"}, "spec.loadBalancerIP"),
    ({"ports": [(80, "SCTP")]}, "spec.ports[0].protocol"),
]


def test_fifty_invalid_beside_fifty_valid(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    controller = harness.start(pools=["198.18.0.0/26"], workers=4)
    core = client.CoreV1Api(kube)
    expected: dict[str, str] = {}
    for i in range(50):
        kwargs, field = INVALID[i % len(INVALID)]
        name = f"bad-{i}"
        core.create_namespaced_service(
            namespace,
            lb_service(name, harness.lb_class, **kwargs),  # type: ignore[arg-type]
        )
        expected[name] = field
        core.create_namespaced_service(namespace, lb_service(f"good-{i}", harness.lb_class))

    def state() -> tuple[int, int]:
        services = core.list_namespaced_service(namespace).items
        with_ip = sum(
            1
            for s in services
            if s.metadata.name.startswith("good-") and s.status.load_balancer.ingress
        )
        warned = {
            e.involved_object.name
            for e in client.CoreV1Api(kube).list_namespaced_event(namespace).items
            if e.type == "Warning"
            and e.reason == "InvalidLoadBalancerConfig"
            and expected.get(e.involved_object.name, "\0") in (e.message or "")
        }
        return with_ip, len(warned)

    wait_for("50 valid with IPs and 50 invalid warned", lambda: state() == (50, 50), timeout=90)
    for name in expected:
        svc = core.read_namespaced_service(name, namespace)
        assert not svc.status.load_balancer.ingress, name
    assert controller.healthy
    # One Warning per invalid Service, repeated retries fold into its count.
    sample = [e for e in events(kube, namespace, "bad-0") if e.type == "Warning"]
    assert len(sample) == 1
