"""The service controller with the local provider against a real apiserver."""

from __future__ import annotations

import ipaddress
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbcommon.clock import FakeClock
from lbcommon.model import CLEANUP_FINALIZER, OWNER_ANNOTATION
from tests.integration.controller.conftest import (
    ControllerHarness,
    Probe,
    RecordingProvider,
    events,
    ingress_ip,
    lb_service,
    wait_event,
    wait_ingress,
)
from tests.kubehelpers import merge_patch_service, wait_for

pytestmark = pytest.mark.integration

POOL = ipaddress.ip_network("198.18.0.200/29")  # .200 - .207
POOL_RANGE = "198.18.0.200-198.18.0.207"


def _service(api: client.ApiClient, namespace: str, name: str) -> client.V1Service:
    return client.CoreV1Api(api).read_namespaced_service(name, namespace)


def test_load_balancer_gets_ip_finalizer_and_events(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("web", harness.lb_class))
    ip = wait_ingress(kube, namespace, "web")
    assert ipaddress.ip_address(ip) == ipaddress.ip_address("198.18.0.200")
    svc = _service(kube, namespace, "web")
    assert CLEANUP_FINALIZER in svc.metadata.finalizers
    assert svc.metadata.annotations[OWNER_ANNOTATION] == harness.lb_class
    assert svc.status.load_balancer.ingress[0].ip_mode == "VIP"
    wait_event(kube, namespace, "web", reason="EnsuredLoadBalancer")
    reasons = [e.reason for e in events(kube, namespace, "web")]
    assert "EnsuringLoadBalancer" in reasons


def test_other_classes_are_left_alone(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    controller = harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("theirs", "other.example.com/lb"))
    core.create_namespaced_service(namespace, lb_service("classless", None))
    core.create_namespaced_service(namespace, lb_service("mine", harness.lb_class))
    wait_ingress(kube, namespace, "mine")
    # Both others were handed to the controller (queued) and judged not ours.
    # They were queued before "mine": once the controller is idle (nothing
    # queued, nothing in flight) after mine was served, both were reconciled.
    wait_for("both others reconciled", lambda: controller.idle)
    for name in ("theirs", "classless"):
        svc = _service(kube, namespace, name)
        assert svc.status.load_balancer.ingress is None
        assert not svc.metadata.finalizers


def test_requested_ip_is_honoured(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(
        namespace, lb_service("pinned", harness.lb_class, load_balancer_ip="198.18.0.205")
    )
    assert wait_ingress(kube, namespace, "pinned") == "198.18.0.205"


def test_without_node_ports_served_and_the_ip_kept_while_they_are_switched(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    """allocateLoadBalancerNodePorts: false gets an ingress from the local provider
    (nodeproxy delivers to the ingress IP), and flipping the field keeps it."""
    harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(
        namespace, lb_service("bare", harness.lb_class, allocate_node_ports=False)
    )
    ip = wait_ingress(kube, namespace, "bare")
    assert _service(kube, namespace, "bare").spec.ports[0].node_port is None
    merge_patch_service(kube, namespace, "bare", {"spec": {"allocateLoadBalancerNodePorts": True}})
    assert _service(kube, namespace, "bare").spec.ports[0].node_port, "no node port allocated"
    # Switching back keeps allocated node ports unless they are removed too.
    ports = [{"name": "p0", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    merge_patch_service(
        kube,
        namespace,
        "bare",
        {"spec": {"allocateLoadBalancerNodePorts": False, "ports": ports}},
    )
    assert _service(kube, namespace, "bare").spec.ports[0].node_port is None
    time.sleep(1)  # a reconcile that moved the address would have happened by now
    assert ingress_ip(kube, namespace, "bare") == ip
    refusals = [
        e.message
        for e in events(kube, namespace, "bare")
        if e.reason == "InvalidLoadBalancerConfig"
    ]
    assert not refusals


@pytest.mark.parametrize(
    ("requested", "expect"),
    [
        pytest.param("198.18.0.99", "spec.loadBalancerIP", id="outside-every-pool"),
        pytest.param("203.0.113.7", "spec.loadBalancerIP", id="foreign-address"),
    ],
)
def test_unusable_requested_ip_is_a_warning_and_harms_nobody(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness, requested: str, expect: str
) -> None:
    harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(
        namespace, lb_service("bad", harness.lb_class, load_balancer_ip=requested)
    )
    core.create_namespaced_service(namespace, lb_service("good", harness.lb_class))
    event = wait_event(kube, namespace, "bad", reason="InvalidLoadBalancerConfig", contains=expect)
    assert event.type == "Warning"
    assert wait_ingress(kube, namespace, "good")
    assert ingress_ip(kube, namespace, "bad") is None
    # Fixing the Service makes it work (the retry picks it up).
    merge_patch_service(kube, namespace, "bad", {"spec": {"loadBalancerIP": "198.18.0.203"}})
    assert wait_ingress(kube, namespace, "bad") == "198.18.0.203"


def test_ip_held_by_another_service(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(
        namespace, lb_service("first", harness.lb_class, load_balancer_ip="198.18.0.201")
    )
    assert wait_ingress(kube, namespace, "first") == "198.18.0.201"
    core.create_namespaced_service(
        namespace, lb_service("second", harness.lb_class, load_balancer_ip="198.18.0.201")
    )
    wait_event(
        kube, namespace, "second", reason="InvalidLoadBalancerConfig", contains=f"{namespace}/first"
    )
    assert ingress_ip(kube, namespace, "first") == "198.18.0.201"
    assert ingress_ip(kube, namespace, "second") is None


def test_exhausted_pool_recovers_when_an_ip_is_freed(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    harness.start(pools=["198.18.0.200-198.18.0.201"])
    core = client.CoreV1Api(kube)
    for name in ("a", "b"):
        core.create_namespaced_service(namespace, lb_service(name, harness.lb_class))
        wait_ingress(kube, namespace, name)
    core.create_namespaced_service(namespace, lb_service("c", harness.lb_class))
    wait_event(kube, namespace, "c", reason="InvalidLoadBalancerConfig", contains="in use")
    freed = ingress_ip(kube, namespace, "a")
    core.delete_namespaced_service("a", namespace)
    assert wait_ingress(kube, namespace, "c") == freed


def test_a_released_address_reaches_a_waiting_service_within_a_second(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    """With production backoff (5 s doubling), a freed address must not wait for it."""
    harness.start(pools=["198.18.0.200-198.18.0.201"], backoff=(5.0, 300.0))
    core = client.CoreV1Api(kube)
    for name in ("a", "b"):
        core.create_namespaced_service(namespace, lb_service(name, harness.lb_class))
        wait_ingress(kube, namespace, name)
    core.create_namespaced_service(namespace, lb_service("c", harness.lb_class))
    wait_event(kube, namespace, "c", reason="InvalidLoadBalancerConfig", contains="in use")
    freed = ingress_ip(kube, namespace, "a")
    deleted = time.monotonic()
    core.delete_namespaced_service("a", namespace)
    assert wait_ingress(kube, namespace, "c") == freed
    assert time.monotonic() - deleted < 1.0


def test_permanent_provider_error_gives_up_until_the_service_changes(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    clock = FakeClock()
    controller = harness.start(pools=[POOL_RANGE], clock=clock)
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    key = f"{namespace}/broken"
    provider.fail_permanently.add(key)  # type: ignore[arg-type]
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("broken", harness.lb_class))
    event = wait_event(
        kube, namespace, "broken", reason="SyncLoadBalancerFailed", contains="injected permanent"
    )
    assert event.type == "Warning"

    def attempts() -> int:
        return len([c for c in provider.calls_of("ensure") if c.key == key])

    def claimed() -> bool:
        spec = controller.services.get(key)
        return spec is not None and CLEANUP_FINALIZER in spec.finalizers

    wait_for("our own finalizer patch seen", claimed)
    wait_for("controller idle", lambda: controller.idle)
    tried = attempts()
    # Once, or twice if the watch delivered our own finalizer patch (a change) in time.
    assert tried in (1, 2)
    # Far past every backoff (the cap is 2 s): a retried key would be due now.
    clock.step(60)
    core.create_namespaced_service(namespace, lb_service("steady", harness.lb_class))
    wait_ingress(kube, namespace, "steady")
    wait_for("controller idle", lambda: controller.idle)
    assert attempts() == tried
    assert controller.queue.retries(key) == 0  # type: ignore[arg-type]
    # A change of the Service is the next attempt, and it succeeds.
    provider.fail_permanently.clear()
    merge_patch_service(kube, namespace, "broken", {"metadata": {"labels": {"fixed": "yes"}}})
    assert wait_ingress(kube, namespace, "broken")
    assert attempts() > tried


def test_type_change_releases_everything(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    controller = harness.start(pools=[POOL_RANGE])
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("flip", harness.lb_class))
    ip = wait_ingress(kube, namespace, "flip")
    node_port = _service(kube, namespace, "flip").spec.ports[0].node_port
    merge_patch_service(
        kube, namespace, "flip", {"spec": {"type": "NodePort", "loadBalancerClass": None}}
    )

    def released() -> bool:
        svc = _service(kube, namespace, "flip")
        return not svc.metadata.finalizers and not (
            svc.status.load_balancer and svc.status.load_balancer.ingress
        )

    wait_for("finalizer and ingress gone", released)
    svc = _service(kube, namespace, "flip")
    assert OWNER_ANNOTATION not in (svc.metadata.annotations or {})
    assert svc.spec.ports[0].node_port == node_port
    assert provider.inner.list_owned() == []
    wait_event(kube, namespace, "flip", reason="DeletedLoadBalancer")
    # The IP is free again for someone else.
    core.create_namespaced_service(
        namespace, lb_service("next", harness.lb_class, load_balancer_ip=ip)
    )
    assert wait_ingress(kube, namespace, "next") == ip


def test_delete_releases_ip_and_finalizer(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    controller = harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("gone", harness.lb_class))
    wait_ingress(kube, namespace, "gone")
    core.delete_namespaced_service("gone", namespace)

    def deleted() -> bool:
        try:
            core.read_namespaced_service("gone", namespace)
        except ApiException as err:
            return bool(err.status == 404)
        return False

    wait_for("Service deleted (finalizer removed)", deleted)
    assert controller.provider.list_owned() == []


def test_restart_keeps_every_ip(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    first = harness.start(pools=[POOL_RANGE])
    core = client.CoreV1Api(kube)
    names = [f"s{i}" for i in range(5)]
    for name in names:
        core.create_namespaced_service(namespace, lb_service(name, harness.lb_class))
    before = {name: wait_ingress(kube, namespace, name) for name in names}
    harness.stop(first)
    # While no controller runs, the lowest IP is freed: a restarted controller
    # must not hand it to a Service that already has another one.
    core.delete_namespaced_service("s0", namespace)
    second = harness.start(pools=[POOL_RANGE])
    core.create_namespaced_service(namespace, lb_service("late", harness.lb_class))
    late = wait_ingress(kube, namespace, "late")
    wait_for("s0 cleaned up", lambda: "s0" not in _names(core, namespace))
    after = {name: ingress_ip(kube, namespace, name) for name in names[1:]}
    assert after == {name: before[name] for name in names[1:]}
    assert late not in after.values()
    assert second.provider.list_owned()


def _names(core: client.CoreV1Api, namespace: str) -> set[str]:
    return {s.metadata.name for s in core.list_namespaced_service(namespace).items}


def test_failures_retry_with_backoff_and_do_not_block_others(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    clock = FakeClock()
    controller = harness.start(pools=[POOL_RANGE], clock=clock)
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    key = f"{namespace}/flaky"
    provider.fail_ensure.add(key)  # type: ignore[arg-type]
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("flaky", harness.lb_class))
    core.create_namespaced_service(namespace, lb_service("steady", harness.lb_class))
    wait_ingress(kube, namespace, "steady")
    wait_event(kube, namespace, "flaky", reason="SyncLoadBalancerFailed", contains="injected")

    def after_a_backoff(done: Probe) -> Probe:
        """Each look first lets the longest backoff (the 2 s cap) pass on the clock."""

        def probe() -> object:
            clock.step(2.0)
            return done()

        return probe

    wait_for(
        "three attempts",
        after_a_backoff(lambda: len([c for c in provider.calls_of("ensure") if c.key == key]) >= 3),
    )
    provider.fail_ensure.clear()
    wait_for("flaky served", after_a_backoff(lambda: ingress_ip(kube, namespace, "flaky")))


def test_recreated_service_releases_the_old_ones_resources(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness
) -> None:
    controller = harness.start(pools=[POOL_RANGE])
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("phoenix", harness.lb_class))
    wait_ingress(kube, namespace, "phoenix")
    old_uid = _service(kube, namespace, "phoenix").metadata.uid
    # Someone strips the finalizer, deletes the Service and recreates it at
    # once: whether the controller sees the gap or only the new UID, the old
    # load balancer must be released.
    merge_patch_service(kube, namespace, "phoenix", {"metadata": {"finalizers": None}})
    core.delete_namespaced_service("phoenix", namespace)
    wait_for("old Service gone", lambda: "phoenix" not in _names(core, namespace))
    core.create_namespaced_service(namespace, lb_service("phoenix", harness.lb_class))
    wait_ingress(kube, namespace, "phoenix")
    wait_for(
        "the old load balancer released",
        lambda: (f"{namespace}/phoenix", old_uid) in provider.calls_of("delete"),
    )
    assert _service(kube, namespace, "phoenix").metadata.uid != old_uid
