"""LoadBalancer Services (LB-1 .. LB-12), probed from the test runner outside the cluster."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance import backends
from conformance import manifests as m
from conformance.cluster import ClusterHandle
from conformance.kube import Kube, Namespace, NodeInfo, PodInfo
from conformance.loadbalancers import LBCTL_FINALIZER, LoadBalancers, addresses
from conformance.outside import Outside, UdpFlow, source_address_to
from conformance.probes import ip_of, reach_all, spread
from conformance.settings import SuiteSettings
from conformance.topology import Topology
from conformance.waiting import WaitTimeoutError, wait_until
from conformance.walk import EXCLUDE_LABEL, load_balancer_nodes, walk

APP = "lb"
POOL_LAST = 250
POOL_FIRST = 200


def lb_service(name: str = APP, ports: list[m.Manifest] | None = None, **spec: Any) -> m.Manifest:
    return m.service(
        name, ports=ports or [m.service_port(80)], selector=m.app_selector(APP), **spec
    )


def serves(
    outside: Outside, ip: str, port: int, want: set[str] | None = None, *, why: str = ""
) -> str:
    """Wait until ip:port answers (with one of `want`, if given); the answer. `why`
    says why it should."""

    def answer() -> str | None:
        got = outside.http(ip, port)
        return got if got and (want is None or got in want) else None

    return wait_until(f"{ip}:{port} to answer{': ' + why if why else ''}", answer, timeout=60)


def closed(outside: Outside, ip: str, port: int, *, why: str = "") -> None:
    """`ip:port` stops answering within 60 s; `why` says what should have closed it."""
    wait_until(
        f"{ip}:{port} to stop answering{': ' + why if why else ''}",
        lambda: outside.http(ip, port, timeout=2) is None,
        timeout=60,
    )


@pytest.mark.conformance("LB-1")
def test_ingress_and_every_port(ns: Namespace, lbs: LoadBalancers, outside: Outside) -> None:
    """An ingress appears within the bound and every port of the Service reaches the pods."""
    pods = backends.deployment(ns, APP, 2)
    lbs.create(
        lb_service(ports=[m.service_port(80, name="a"), m.service_port(8081, target=80, name="b")])
    )
    ip = lbs.ingress(APP)
    for port in (80, 8081):
        serves(outside, ip, port, backends.names(pods))
    seen = reach_all(lambda n: outside.http_many(ip, 80, count=n), backends.names(pods))
    assert set(seen) == backends.names(pods), f"through the load balancer: {dict(seen)}"


def _free_pool_ip(kube: Kube) -> str:
    taken = {
        i.ip
        for s in kube.core.list_service_for_all_namespaces().items
        for i in (s.status.load_balancer.ingress or [] if s.status.load_balancer else [])
    } | {s.spec.load_balancer_ip for s in kube.core.list_service_for_all_namespaces().items}
    for host in range(POOL_LAST, POOL_FIRST, -1):
        if f"198.18.0.{host}" not in taken:
            return f"198.18.0.{host}"
    raise AssertionError("the local pool has no free address")


@pytest.mark.conformance("LB-2")
def test_load_balancer_ip(
    ns: Namespace,
    lbs: LoadBalancers,
    outside: Outside,
    cluster: ClusterHandle,
    suite_settings: SuiteSettings,
) -> None:
    """A requested usable address (a free pool address, or --conformance-lb-ip) becomes
    the ingress (or what its hostname resolves to); an unusable one is a Warning event
    on that Service and nothing else breaks."""
    if suite_settings.lb_ip:
        wanted = suite_settings.lb_ip
        outside.guard.admit(wanted)
    elif cluster.lb_provider_is_lbctl:
        wanted = _free_pool_ip(ns.kube)
    else:
        pytest.skip(
            "needs an address the provider may use: name one with --conformance-lb-ip "
            "(on the local cluster the suite takes a free one from lbctl's pool)"
        )
    pods = backends.deployment(ns, APP, 1)
    lbs.create(lb_service("fixed", loadBalancerIP=wanted))
    ingress = lbs.ingress("fixed")
    # An NLB's ingress is its DNS name, which resolves to the address asked for.
    assert addresses(ingress) == [wanted], f"loadBalancerIP {wanted}: the ingress is {ingress}"
    serves(outside, wanted, 80, backends.names(pods))
    lbs.create(lb_service("unusable", loadBalancerIP="198.18.1.250"))
    wait_until(
        "a Warning event about the unusable loadBalancerIP",
        lambda: any(t == "Warning" for t, _, _ in ns.events("Service", "unusable")),
        timeout=lbs.timeout,
    )
    assert not ns.service("unusable").ingress
    serves(outside, wanted, 80, backends.names(pods))
    lbs.create(lb_service("bystander"))
    serves(outside, lbs.ingress("bystander"), 80, backends.names(pods))


@pytest.mark.conformance("LB-3")
def test_source_ranges(
    ns: Namespace, lbs: LoadBalancers, outside: Outside, topology: Topology
) -> None:
    """A client inside loadBalancerSourceRanges (the second of two) connects; outside
    them it cannot; edits apply."""
    pods = backends.deployment(ns, APP, 1)
    assert topology.nodes[0].internal_ip
    runner = source_address_to(outside.guard, topology.nodes[0].internal_ip)
    ranges = ["198.18.0.2/32", f"{runner}/32"]
    lbs.create(lb_service(loadBalancerSourceRanges=ranges))
    ip = lbs.ingress(APP)
    serves(
        outside,
        ip,
        80,
        backends.names(pods),
        why=f"the runner {runner} is in loadBalancerSourceRanges {ranges}",
    )
    excluding = ["198.18.0.2/32"]
    ns.patch_service(APP, {"spec": {"loadBalancerSourceRanges": excluding}})
    closed(
        outside,
        ip,
        80,
        why=f"loadBalancerSourceRanges {excluding} leave out the runner {runner}, yet the "
        "load balancer still admits it (the provider's firewall does not follow the ranges)",
    )
    ns.patch_service(APP, {"spec": {"loadBalancerSourceRanges": None}})
    serves(outside, ip, 80, backends.names(pods), why="loadBalancerSourceRanges removed")


#: LB-4's bound, per move of the walk: from the endpoint being Ready on its new
#: node until every request lands on it
LOCAL_ANSWER_BOUND = 5.0
#: consecutive requests that must all reach the endpoint to call a step answered
LOCAL_BATCH = 20


@pytest.mark.conformance("LB-4")
def test_local_policy_through_load_balancer(
    ns: Namespace, lbs: LoadBalancers, outside: Outside, topology: Topology
) -> None:
    """Local policy: a single endpoint walked across every node the load balancer may
    use (the one announcing or fronting the address included) is answered within 5 s
    of each move, with every request landing on it (none lost to nodes without an
    endpoint), and the pod sees the client's address, unless the provider proxies."""
    nodes = load_balancer_nodes(topology.nodes)
    if len(nodes) < 2:
        pytest.skip(f"needs 2 nodes a load balancer may use; the cluster has {len(nodes)}")
    lbs.create(lb_service(externalTrafficPolicy="Local"))
    ip: str | None = None
    took: dict[str, float] = {}

    def step(node: NodeInfo, pod: PodInfo) -> None:
        nonlocal ip
        first = ip is None
        ip = ip or lbs.ingress(APP)
        # The first step creates the load balancer: its bound is the provider's.
        bound = lbs.timeout if first else LOCAL_ANSWER_BOUND
        health_port = ns.service(APP).health_check_node_port
        ready = time.monotonic()
        try:
            settled, last = _all_land(outside, ip, pod.name, bound=max(bound, 30.0))
        except AssertionError as lost:
            raise AssertionError(
                f"with the only endpoint on {node.name}, the load balancer must send only to "
                f"the nodes whose healthCheckNodePort {health_port} answers 200 (that node "
                f"alone), yet {lost}; steps so far: {took}"
            ) from None
        took[node.name] = round(settled - ready, 2)
        assert settled - ready <= bound, (
            f"with the only endpoint on {node.name}, {LOCAL_BATCH} requests in a row to "
            f"{ip}:80 first all reached it {took[node.name]:.1f}s after it was Ready "
            f"(bound {bound:.0f}s; last batch {last}); steps so far: {took}"
        )

    walk(ns, APP, nodes, step)
    print(f"LB-4 seconds from Ready until every request lands, per node: {took}")
    assert ip is not None
    seen = ip_of(outside.http(ip, 80, "/clientip"))
    if not lbs.source_ip_preserved(APP):
        pytest.skip(f"the provider proxies (ipMode: Proxy); the pod sees {seen}")
    assert seen == outside.source_address(ip)


def _all_land(
    outside: Outside, ip: str, pod: str, *, bound: float
) -> tuple[float, list[str | None]]:
    """When the first run of LOCAL_BATCH requests in a row through ip:80 that all
    reached `pod` began (monotonic), and the last LOCAL_BATCH answers."""
    deadline = time.monotonic() + bound
    last: list[str | None] = []
    streak_began: float | None = None
    streak = 0
    while time.monotonic() < deadline:
        sent = time.monotonic()
        answer = outside.http(ip, 80, timeout=1)
        last = [*last, answer][-LOCAL_BATCH:]
        if answer == pod:
            streak_began = sent if streak == 0 else streak_began
            streak += 1
            if streak == LOCAL_BATCH and streak_began is not None:
                return streak_began, last
        else:
            streak = 0
            time.sleep(0.1)
    lost = sum(answer is None for answer in last)
    raise AssertionError(
        f"{LOCAL_BATCH} requests in a row to {ip}:80 never all reached {pod} within "
        f"{bound:.0f}s ({lost} of the last {len(last)} unanswered, as when sent to a node "
        f"without an endpoint; answers {last})"
    )


@pytest.mark.conformance("LB-5")
def test_affinity_through_load_balancer(
    ns: Namespace, lbs: LoadBalancers, outside: Outside
) -> None:
    """sessionAffinity ClientIP: every request from the runner reaches one pod."""
    pods = backends.deployment(ns, APP, 3)
    lbs.create(lb_service(sessionAffinity="ClientIP"))
    ip = lbs.ingress(APP)
    serves(outside, ip, 80, backends.names(pods))
    sticky = spread(outside.http_many(ip, 80, count=20))
    assert len(sticky) == 1, f"requests went to {dict(sticky)}"


@pytest.mark.conformance("LB-6")
def test_udp_load_balancer(ns: Namespace, lbs: LoadBalancers, outside: Outside) -> None:
    """A UDP load balancer answers; a flow moves to the new pod when its backend is replaced."""
    [pod] = backends.deployment(ns, APP, 1, http_port=80, udp_port=5353)
    lbs.create(lb_service(ports=[m.service_port(5353, protocol="UDP", name="dns")]))
    ip = lbs.ingress(APP)
    # Fresh flows until one is answered (a new source port each try, as upstream's
    # probes do): a flow whose first packets beat the data plane can stay lost to a
    # stale conntrack entry for as long as it keeps sending, on any provider.
    wait_until("a UDP answer on a fresh flow", lambda: _fresh_udp_answer(outside, ip), timeout=60)
    with UdpFlow(outside.guard, ip, 5353) as flow:
        assert wait_until("a UDP answer", flow.ask, timeout=60) == pod.name
        ns.delete_pod(pod.name)
        moved = wait_until(
            "the flow to reach the new pod",
            lambda: a if (a := flow.ask()) and a != pod.name else None,
            timeout=90,
        )
    assert moved in {p.name for p in ns.pods(m.app_selector(APP))}


def _fresh_udp_answer(outside: Outside, ip: str) -> str | None:
    with UdpFlow(outside.guard, ip, 5353) as flow:
        return flow.ask()


@pytest.mark.conformance("LB-7")
def test_type_changes(
    ns: Namespace, lbs: LoadBalancers, outside: Outside, cluster: ClusterHandle
) -> None:
    """ClusterIP -> NodePort -> LoadBalancer keeps the node port; a port change keeps the IP;
    back to ClusterIP removes ingress, external port and finalizer and frees the address."""
    pods = backends.deployment(ns, APP, 1)
    ns.create(lb_service(type_="ClusterIP"))
    node_port = ns.patch_service(APP, {"spec": {"type": "NodePort"}}).node_port()
    patch: dict[str, Any] = {"spec": {"type": "LoadBalancer"}}
    if lbs.lb_class:
        patch["spec"]["loadBalancerClass"] = lbs.lb_class
    assert ns.patch_service(APP, patch).node_port() == node_port
    ip = lbs.ingress(APP)
    serves(outside, ip, 80, backends.names(pods))
    assert LBCTL_FINALIZER in ns.service(APP).finalizers
    ports = [m.service_port(81, target=80, node_port=node_port)]
    ns.patch_service(APP, {"spec": {"ports": ports}})
    serves(outside, ip, 81, backends.names(pods))
    assert ns.service(APP).ingress[0] == ip, "the ingress changed with the ports"
    ns.patch_service(
        APP,
        {
            "spec": {
                "type": "ClusterIP",
                "ports": [m.service_port(81, target=80)],
                "loadBalancerClass": None,
                "externalTrafficPolicy": None,
            }
        },
    )
    lbs.wait_no_ingress(APP)
    closed(outside, ip, 81)
    wait_until(
        "the cleanup finalizer to go",
        lambda: LBCTL_FINALIZER not in ns.service(APP).finalizers,
        timeout=lbs.timeout,
    )
    if cluster.lb_provider_is_lbctl:
        lbs.create(lb_service("reuse", loadBalancerIP=ip))
        assert lbs.ingress("reuse") == ip, "the address was not freed"


@pytest.mark.conformance("LB-8")
def test_delete_removes_everything(
    ns: Namespace, lbs: LoadBalancers, outside: Outside, cluster: ClusterHandle
) -> None:
    """Deleting the Service removes the finalizer and the Service, closes the address and,
    on lbctl, frees it for the next Service."""
    pods = backends.deployment(ns, APP, 1)
    lbs.create(lb_service())
    ip = lbs.ingress(APP)
    serves(outside, ip, 80, backends.names(pods))
    assert LBCTL_FINALIZER in ns.service(APP).finalizers
    ns.delete_service(APP)
    ns.wait_service_gone(APP, timeout=lbs.timeout)
    closed(outside, ip, 80)
    if cluster.lb_provider_is_lbctl:
        lbs.create(lb_service("next", loadBalancerIP=ip))
        assert lbs.ingress("next") == ip, "the address was not freed"


@pytest.mark.conformance("LB-9")
def test_backend_scaled_to_zero_and_back(
    ns: Namespace, lbs: LoadBalancers, outside: Outside
) -> None:
    """No backends: the load balancer refuses or times out; backends again: it serves."""
    backends.deployment(ns, APP, 2)
    lbs.create(lb_service())
    ip = lbs.ingress(APP)
    serves(outside, ip, 80)
    ns.scale("Deployment", APP, 0)
    wait_until("no pods", lambda: not ns.pods(m.app_selector(APP)), timeout=60)
    closed(outside, ip, 80)
    ns.scale("Deployment", APP, 2)
    pods = ns.wait_ready(m.app_selector(APP), 2)
    serves(outside, ip, 80, backends.names(pods))


@pytest.mark.conformance("LB-10")
def test_excluded_node_stops_receiving(
    ns: Namespace, lbs: LoadBalancers, outside: Outside, topology: Topology
) -> None:
    """A node labelled exclude-from-external-load-balancers stops receiving traffic, and
    receives it again once the label is gone (the only endpoint runs there, policy Local).

    Adding a node or killing one is not something the suite does to a cluster it was
    given; those halves are covered by the provider's own e2e tests.
    """
    node = topology.need_workers(2)[0]
    [pod] = backends.pinned(ns, APP, [node.name])
    lbs.create(lb_service(externalTrafficPolicy="Local"))
    ip = lbs.ingress(APP)
    serves(outside, ip, 80, {pod.name})
    label = {"metadata": {"labels": {EXCLUDE_LABEL: "true"}}}
    ns.kube.core.patch_node(node.name, label)
    try:
        closed(outside, ip, 80)
    finally:
        ns.kube.core.patch_node(node.name, {"metadata": {"labels": {EXCLUDE_LABEL: None}}})
    serves(outside, ip, 80, {pod.name})


@pytest.mark.conformance("LB-11")
def test_no_disruption_during_rollout(ns: Namespace, lbs: LoadBalancers, outside: Outside) -> None:
    """While the backend Deployment rolls, at least 99% of requests succeed."""
    # /readyz turns 503 on SIGTERM while netexec keeps serving for 5 s (it needs
    # its UDP server to report ready at all).
    spec = backends.spread_spec(APP, udp_port=8081, readiness_path="/readyz", delay_shutdown=5)
    spec["terminationGracePeriodSeconds"] = 15
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    ns.create(m.deployment(APP, APP, replicas=3, spec=spec, strategy=strategy))
    old = ns.wait_ready(m.app_selector(APP), 3, timeout=backends.POD_READY_TIMEOUT)
    lbs.create(lb_service())
    ip = lbs.ingress(APP)
    serves(outside, ip, 80)
    restart = {"spec": {"template": {"metadata": {"annotations": {"rollout": str(time.time())}}}}}
    ns.kube.apps.patch_namespaced_deployment(APP, ns.name, restart)
    ok = failed = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if outside.http(ip, 80, timeout=2):
            ok += 1
        else:
            failed += 1
        if ok % 20 == 0 and _rolled(ns, backends.names(old)):
            break
    assert _rolled(ns, backends.names(old)), "the rollout did not finish in 240s"
    total = ok + failed
    assert total >= 50, f"only {total} requests during the rollout"
    assert ok / total >= 0.99, f"{failed} of {total} requests failed during the rollout"


def _rolled(ns: Namespace, old: set[str]) -> bool:
    pods = ns.pods(m.app_selector(APP))
    return len(pods) == 3 and all(p.ready for p in pods) and not {p.name for p in pods} & old


@pytest.mark.conformance("LB-12")
def test_without_node_ports(ns: Namespace, lbs: LoadBalancers, outside: Outside) -> None:
    """allocateLoadBalancerNodePorts: false is either served (an ingress that answers,
    kept while node ports are switched on and off again) or refused with a Warning
    naming the field; no node port is allocated either way. The local provider
    (nodeproxy delivers to the ingress IP) must serve it."""
    pods = backends.deployment(ns, APP, 1)
    want = backends.names(pods)
    lbs.create(lb_service(allocateLoadBalancerNodePorts=False))
    assert not ns.service(APP).ports[0].get("node_port"), "a node port was allocated"

    def outcome() -> str | None:
        if ns.service(APP).ingress:
            return "served"
        warnings = [msg for kind, _, msg in ns.events("Service", APP) if kind == "Warning"]
        named = [msg for msg in warnings if "allocateLoadBalancerNodePorts" in msg]
        return f"refused: {named[0]}" if named else None

    try:
        result = wait_until(
            "an ingress, or a Warning naming allocateLoadBalancerNodePorts",
            outcome,
            timeout=lbs.timeout,
        )
    except WaitTimeoutError:
        raise lbs.no_ingress(APP, lbs.timeout) from None
    if lbs.handle.name == "local":
        assert result == "served", f"the local provider must serve it, but it {result}"
    if result != "served":
        return
    ip = lbs.ingress(APP)
    serves(outside, ip, 80, want)
    ns.patch_service(APP, {"spec": {"allocateLoadBalancerNodePorts": True}})
    assert ns.service(APP).ports[0].get("node_port"), "switched on, no node port was allocated"
    serves(outside, ip, 80, want)
    # Switching off again keeps allocated node ports unless they are removed too.
    off = {"allocateLoadBalancerNodePorts": False, "ports": [m.service_port(80)]}
    ns.patch_service(APP, {"spec": off})
    assert not ns.service(APP).ports[0].get("node_port"), "switched off, the node port stayed"
    serves(outside, ip, 80, want)
    assert lbs.ingress(APP) == ip, "the ingress IP changed while node ports were switched"
