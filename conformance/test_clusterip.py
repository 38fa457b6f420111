"""ClusterIP Services (CIP-1 .. CIP-9), probed from a client pod."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance import backends
from conformance import manifests as m
from conformance.kube import Namespace, PodInfo
from conformance.probes import Connect, PodProbe, answers_exactly, ip_of, reach_all, spread
from conformance.topology import CLUSTER_DOMAIN, Topology
from conformance.waiting import wait_until

APP = "web"


def web_service(name: str = APP, **spec: Any) -> m.Manifest:
    return m.service(name, ports=[m.service_port(80)], selector=m.app_selector(APP), **spec)


@pytest.mark.conformance("CIP-1")
def test_cluster_ip_spreads_over_all_ready_pods(ns: Namespace, client: PodProbe) -> None:
    """A selector Service gets a ClusterIP and every ready pod answers through it."""
    pods = backends.deployment(ns, APP, 3)
    ns.create(web_service())
    cip = ns.service(APP).cluster_ip
    assert cip and cip != "None", "the Service got no ClusterIP"
    ns.wait_ready_endpoints(APP, backends.ips(pods))
    seen = reach_all(lambda n: client.http_many(cip, 80, count=n), backends.names(pods))
    assert set(seen) == backends.names(pods), f"answers per pod: {dict(seen)}"


@pytest.mark.conformance("CIP-2")
def test_port_and_named_target_port(ns: Namespace, client: PodProbe) -> None:
    """Port 8080 reaches container port 80; a named targetPort resolves per pod (80 and 81)."""
    for name, port, extra in (("p80", 80, {"fixed": "yes"}), ("p81", 81, {})):
        container = m.netexec(http_port=port, ports=[m.container_port(port, name="http")])
        ns.create(m.pod(name, m.pod_spec([container]), labels={m.APP: "named", **extra}))
    ns.create(
        m.service("numeric", ports=[m.service_port(8080, target=80)], selector={"fixed": "yes"})
    )
    ns.create(
        m.service("named", ports=[m.service_port(8080, target="http")], selector={m.APP: "named"})
    )
    pods = ns.wait_ready({m.APP: "named"}, 2)
    numeric = ns.service("numeric").cluster_ip
    named = ns.service("named").cluster_ip
    assert numeric and named
    ns.wait_ready_endpoints("named", backends.ips(pods))
    assert client.http(numeric, 8080) == "p80"
    assert not client.connect(numeric, 80, timeout=2).ok, "port 80 of the Service is not open"
    seen = reach_all(lambda n: client.http_many(named, 8080, count=n), {"p80", "p81"})
    assert set(seen) == {"p80", "p81"}, f"named targetPort reached only {dict(seen)}"


@pytest.mark.conformance("CIP-3")
def test_multi_port_service(ns: Namespace, client: PodProbe) -> None:
    """Each port of a multi-port Service reaches its own container port (TCP and UDP)."""
    containers = [
        m.netexec(http_port=80, name="a", ports=[m.container_port(80, name="a")]),
        m.netexec(
            http_port=81,
            udp_port=82,
            name="b",
            ports=[m.container_port(81, name="b"), m.container_port(82, name="u", protocol="UDP")],
        ),
    ]
    ns.create(m.pod("multi", m.pod_spec(containers), labels={m.APP: APP}))
    ns.create(
        m.service(
            APP,
            selector=m.app_selector(APP),
            ports=[
                m.service_port(8080, target=80, name="a"),
                m.service_port(8081, target="b", name="b"),
                m.service_port(8082, target=82, name="u", protocol="UDP"),
            ],
        )
    )
    pod = ns.wait_pod_ready("multi")
    ns.wait_ready_endpoints(APP, {pod.ip or ""})
    cip = ns.service(APP).cluster_ip
    assert cip
    assert client.http(cip, 8080, "/serverport") == "80"
    assert client.http(cip, 8081, "/serverport") == "81"
    assert (
        wait_until(
            "UDP port 8082 to answer", lambda: client.udp(cip, 8082, "serverport"), timeout=30
        )
        == "82"
    )


@pytest.mark.conformance("CIP-4")
def test_endpoints_follow_pods(ns: Namespace, client: PodProbe) -> None:
    """Recreated pods (new IPs) keep the Service working; slices list exactly the ready pods."""
    first = backends.deployment(ns, APP, 2)
    ns.create(web_service())
    cip = ns.service(APP).cluster_ip
    assert cip
    ns.wait_ready_endpoints(APP, backends.ips(first))
    for pod in first:
        ns.delete_pod(pod.name)
    second = wait_until(
        "two new ready pods",
        lambda: _replaced(ns, backends.names(first)),
        timeout=120,
    )
    assert not backends.names(second) & backends.names(first)
    ns.wait_ready_endpoints(APP, backends.ips(second))
    answers_exactly(lambda n: client.http_many(cip, 80, count=n), backends.names(second))
    for replicas in (3, 1):
        ns.scale("Deployment", APP, replicas)
        pods = ns.wait_ready(m.app_selector(APP), replicas)
        ns.wait_ready_endpoints(APP, backends.ips(pods))
        answers_exactly(lambda n: client.http_many(cip, 80, count=n), backends.names(pods))


def _replaced(ns: Namespace, old: set[str]) -> list[PodInfo] | None:
    pods = [p for p in ns.pods(m.app_selector(APP)) if p.name not in old]
    return pods if len(pods) == 2 and all(p.ready and p.ip for p in pods) else None


@pytest.mark.conformance("CIP-5")
def test_no_endpoints_refuses_quickly(ns: Namespace, client: PodProbe) -> None:
    """A Service whose selector matches no ready pod refuses connections at once."""
    ns.create(m.backend_pod("unready", APP, ready=False))
    ns.create(web_service())
    cip = ns.service(APP).cluster_ip
    assert cip
    ns.wait_pod_running("unready")
    result = wait_until(
        "a refused connection",
        lambda: _refused(client.connect(cip, 80)),
        timeout=30,
    )
    assert result.seconds < 3, f"refusal took {result.seconds:.1f}s"


def _refused(result: Connect) -> Connect | None:
    return result if result.result == "REFUSED" else None


@pytest.mark.conformance("CIP-6")
def test_client_ip_preserved_and_hairpin(ns: Namespace, client: PodProbe) -> None:
    """The backend sees the client pod's IP; a pod reaches itself through its own Service."""
    [pod] = backends.deployment(ns, APP, 1)
    ns.create(web_service())
    cip = ns.service(APP).cluster_ip
    assert cip
    ns.wait_ready_endpoints(APP, {pod.ip or ""})
    assert ip_of(client.http(cip, 80, "/clientip")) == client.ip
    itself = PodProbe(ns.kube, ns.name, pod.name, ip=pod.ip)
    assert itself.http(cip, 80) == pod.name, "hairpin: the pod did not reach itself"


@pytest.mark.conformance("CIP-7")
def test_discovery_env_and_dns(ns: Namespace, topology: Topology) -> None:
    """Env vars for Services created before the pod; FQDN, short name and reverse DNS."""
    topology.need_dns()
    [pod] = backends.deployment(ns, APP, 1)
    ns.create(web_service())
    cip = ns.service(APP).cluster_ip
    assert cip
    ns.wait_ready_endpoints(APP, {pod.ip or ""})
    client = backends.client(ns)
    env = client.env()
    assert env.get("WEB_SERVICE_HOST") == cip
    assert env.get("WEB_SERVICE_PORT") == "80"
    fqdn = f"{APP}.{ns.name}.svc.{CLUSTER_DOMAIN}"
    lookup = wait_until(
        "the Service's A record", lambda: client.nslookup(fqdn).addresses or None, timeout=60
    )
    assert lookup == (cip,)
    assert client.connect(APP, 80).ok, "the short name did not resolve and connect"
    assert client.http(APP, 80) == pod.name
    names = wait_until("the PTR record", lambda: client.nslookup(cip).names or None, timeout=60)
    assert fqdn in names


@pytest.mark.conformance("CIP-8")
def test_session_affinity_client_ip(ns: Namespace, client: PodProbe) -> None:
    """ClientIP affinity sticks; switching it off spreads again; its timeout is honoured."""
    pods = backends.deployment(ns, APP, 3)
    ns.create(web_service(sessionAffinity="ClientIP"))
    cip = ns.service(APP).cluster_ip
    assert cip
    ns.wait_ready_endpoints(APP, backends.ips(pods))
    sticky = spread(client.http_many(cip, 80, count=20))
    assert len(sticky) == 1, f"affinity on: {dict(sticky)}"
    ns.patch_service(APP, {"spec": {"sessionAffinity": "None", "sessionAffinityConfig": None}})
    wait_until(
        "requests to spread again",
        lambda: len(spread(client.http_many(cip, 80, count=20))) > 1,
        timeout=60,
    )
    timeout = 4
    ns.patch_service(
        APP,
        {
            "spec": {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": timeout}},
            }
        },
    )
    wait_until(
        "affinity to hold again",
        lambda: len(spread(client.http_many(cip, 80, count=10))) == 1,
        timeout=60,
    )
    after_expiry: set[str] = set()
    for _ in range(8):
        # Waiting longer than the affinity timeout is the behaviour under test.
        time.sleep(timeout + 2)
        answer = client.http(cip, 80)
        if answer:
            after_expiry.add(answer)
        if len(after_expiry) > 1:
            break
    assert len(after_expiry) > 1, "the same pod answered after every expiry"


@pytest.mark.conformance("CIP-9")
def test_tcp_and_udp_on_one_port(ns: Namespace, client: PodProbe) -> None:
    """TCP and UDP on port 80 both work; removing UDP stops UDP and keeps TCP."""
    [pod] = backends.deployment(ns, APP, 1, http_port=80, udp_port=80)
    tcp = m.service_port(80, name="tcp")
    udp = m.service_port(80, name="udp", protocol="UDP")
    ns.create(m.service(APP, ports=[tcp, udp], selector=m.app_selector(APP)))
    cip = ns.service(APP).cluster_ip
    assert cip
    ns.wait_ready_endpoints(APP, {pod.ip or ""})
    assert client.http(cip, 80) == pod.name
    assert wait_until("UDP to answer", lambda: client.udp(cip, 80), timeout=30) == pod.name
    ns.patch_service(APP, {"spec": {"ports": [tcp]}})
    wait_until("UDP to stop answering", lambda: client.udp(cip, 80) is None, timeout=60)
    assert client.http(cip, 80) == pod.name
