"""Real traffic through load balancers the gce provider builds (issue 13, first step).

The provider builds the load balancer in the GCE fake through the real
google-cloud-compute client, exactly as in the other tests here; the fake's
data plane (tests/fakes/gce/network.py) then makes a router namespace forward
as GCE's target-pool network load balancer does, and packets from a client
namespace on the outside reach instance namespaces that stand for nodes
(each accepts the forwarding-rule IPs locally, as kube-proxy does for an
ingress with ipMode VIP, and runs a server that says who answered and whom
it saw). So a wrong port, firewall, health check or pool membership in what
the provider builds shows up as lost or misdirected traffic.

    client 198.18.X.10 --veth-- router (eth1 198.18.X.1, eth0 198.19.X.2)
        --bridge-- nodes 198.19.X.30+
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from typing import TypeVar

import pytest

from lbcommon.clock import RealClock
from lbcommon.errors import LbctlError, TemporaryError
from lbcommon.model import SessionAffinity
from lbctl.providers.common.retry import RetryPolicy
from lbctl.providers.gce import GceProvider
from tests.fakes.gce import GCEFake
from tests.fakes.gce.calls import Call
from tests.fakes.gce.network import GceNetwork
from tests.integration.providers.gce.conftest import ProviderFactory
from tests.integration.providers.gce.helpers import (
    REGION,
    TAG,
    Node,
    lb_names,
    service_lb,
)
from tests.integration.providers.gce.test_gce_crash import SCENARIOS, Killed, KillSwitch, _clean_run
from tests.netns import Host
from tests.netns.routed import NodesBehindRouter as World
from tests.netns.routed import nodes_behind_router
from tests.netns.servers import tcp_ask

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: what the `fake` fixture hands out forwarding-rule IPs from (198.18.1.0 -
#: 198.18.3.255): the nodes accept all of it locally
FR_CIDR = "198.18.0.0/22"
T = TypeVar("T")
NODES = ("node-0", "node-1", "node-2")
OTHER_UID = "9a8b7c6d-5e4f-3a2b-1c0d-ffeeddccbbaa"
ZONE = f"{REGION}-a"


def _accept_forwarding_rule_ips(host: Host) -> None:
    """As kube-proxy does for an ingress with ipMode VIP."""
    rules = (
        "table ip fake_kube_proxy {\n  chain pre { type nat hook prerouting "
        "priority dstnat; policy accept;\n"
        f"    ip daddr {FR_CIDR} redirect\n  }}\n}}\n"
    )
    host.run("nft", "-f", "-", stdin=rules)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with nodes_behind_router(NODES, tcp_ports=(80,), setup=_accept_forwarding_rule_ips) as world:
        yield world


@pytest.fixture
def gce(world: World, fake: GCEFake) -> Iterator[tuple[GCEFake, list[Node]]]:
    """The conftest's fake, with the world's nodes as instances and its data plane."""
    nodes = []
    for name, host in world.hosts.items():
        fake.seed_instance(name, zone=ZONE, ip=str(host.ip), tags=[TAG])
        nodes.append(Node(name, ZONE, str(host.ip)))
    network = GceNetwork(fake, namespace=world.outside.router.ns, ingress="eth1", egress="eth0")
    network.start()
    try:
        yield fake, nodes
    finally:
        network.stop()
        for server in world.servers.values():
            server.healthy = True


@pytest.fixture
def built(make_provider: ProviderFactory) -> GceProvider:
    return make_provider()


def ask(world: World, ip: str, *, timeout: float = 1.0) -> tuple[str, str] | None:
    """(node that answered, client address it saw) for one connection, or None."""
    answer = tcp_ask(world.outside.client_ns, IPv4Address(ip), 80, timeout=timeout)
    if not answer:
        return None
    node, seen = answer.split()[:2]
    return node, seen.rsplit(":", 1)[0]


def until(what: str, probe: object, timeout: float = 15.0) -> None:
    assert callable(probe)
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def spread(world: World, ip: str, count: int = 30) -> Counter[str | None]:
    return Counter((got[0] if got else None) for got in (ask(world, ip) for _ in range(count)))


def test_traffic_reaches_every_instance_unchanged(
    world: World, gce: tuple[GCEFake, list[Node]], built: GceProvider
) -> None:
    _, nodes = gce
    [ingress] = built.ensure(service_lb(nodes))
    until("every instance answering", lambda: set(spread(world, ingress.ip)) == set(NODES))
    got = ask(world, ingress.ip)
    client = str(world.outside.client_ip)
    assert got is not None and got[1] == client, "the client address was not kept"


def test_an_instance_failing_the_pool_health_check_gets_no_new_connections(
    world: World, gce: tuple[GCEFake, list[Node]], built: GceProvider
) -> None:
    _, nodes = gce
    [ingress] = built.ensure(service_lb(nodes))
    until("every instance answering", lambda: set(spread(world, ingress.ip)) == set(NODES))
    world.servers["node-0"].healthy = False
    until("node-0 out", lambda: "node-0" not in spread(world, ingress.ip), timeout=10)
    assert None not in spread(world, ingress.ip), "requests were lost meanwhile"


def test_firewall_source_ranges_decide_who_connects(
    world: World, gce: tuple[GCEFake, list[Node]], built: GceProvider
) -> None:
    """The provider's firewall admits the listed range only; a firewall that admits the
    wrong sources (a provider bug, flipped here in the fake) cuts the client off."""
    fake, nodes = gce
    [ingress] = built.ensure(service_lb(nodes, ranges=(f"{world.outside.client_ip}/32",)))
    until("the listed client connects", lambda: ask(world, ingress.ip) is not None)
    with fake.store.lock:
        for (_, name), body in fake.store.tables["firewalls"].items():
            if name.startswith("k8s-fw-"):
                body["sourceRanges"] = ["198.18.0.250/32"]
    until("the client cut off", lambda: ask(world, ingress.ip, timeout=0.5) is None, timeout=5)


def test_another_load_balancers_open_firewall_does_not_open_this_one(
    world: World, gce: tuple[GCEFake, list[Node]], built: GceProvider
) -> None:
    """Firewall rules apply per destination: the provider gives each its forwarding
    rule's IP as destinationRanges, and another load balancer's rule open to every
    source on the same port and nodes admits nobody to this one."""
    _, nodes = gce
    [closed] = built.ensure(
        service_lb(nodes, uid=OTHER_UID, name="closed", ranges=("198.18.0.250/32",))
    )
    [open_to_all] = built.ensure(service_lb(nodes))
    # The data plane programs all it sees at once: the open one answering means
    # the closed one (built first) is programmed too.
    until("the open one answering", lambda: ask(world, open_to_all.ip) is not None)
    assert ask(world, closed.ip, timeout=0.5) is None, "the closed one admitted the client"


def test_client_ip_affinity_keeps_a_client_on_one_instance(
    world: World, gce: tuple[GCEFake, list[Node]], built: GceProvider
) -> None:
    _, nodes = gce
    [ingress] = built.ensure(service_lb(nodes, affinity=SessionAffinity.CLIENT_IP))
    until("an answer", lambda: ask(world, ingress.ip) is not None)
    seen = spread(world, ingress.ip)
    assert len(seen) == 1 and None not in seen, seen


class Stream:
    """Requests through `ip` one after another on a thread, counted."""

    def __init__(self, world: World, ip: str) -> None:
        self.ok = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(world, ip))

    def _run(self, world: World, ip: str) -> None:
        while not self._stop.is_set():
            if ask(world, ip, timeout=1.0):
                self.ok += 1
            else:
                self.failed += 1

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def failure_ratio(self) -> float:
        return self.failed / max(1, self.ok + self.failed)


def test_a_node_leaving_and_another_joining_lose_under_one_percent(
    world: World, gce: tuple[GCEFake, list[Node]], built: GceProvider
) -> None:
    """A node gets the exclusion label (leaves the pool) and another joins, under a
    steady stream of requests: under 1% of them fail."""
    _, nodes = gce
    [ingress] = built.ensure(service_lb(nodes[:2]))
    until(
        "node-0 and node-1 answering",
        lambda: set(spread(world, ingress.ip)) == {"node-0", "node-1"},
    )
    with Stream(world, ingress.ip) as stream:
        time.sleep(1)
        assert built.update_backends([service_lb(nodes[1:])]) == {}
        until(
            "node-2 in, node-0 out",
            lambda: set(spread(world, ingress.ip, 20)) == {"node-1", "node-2"},
        )
        time.sleep(1)
    assert stream.ok >= 50, f"only {stream.ok} requests went through"
    assert stream.failure_ratio < 0.01, f"{stream.failed} of {stream.ok + stream.failed} failed"


def test_a_throttling_api_still_converges_and_keeps_serving(
    world: World, gce: tuple[GCEFake, list[Node]], make_provider: ProviderFactory
) -> None:
    """30% of API calls get 429 rateLimitExceeded with Retry-After: 1: the load
    balancer is still built (retried as the controller's work queue does), serves
    through a change, and no throttled call was repeated sooner than it was told."""
    fake, nodes = gce
    # Real time and a policy that waits a Retry-After of 1 s in place.
    built = make_provider(clock=RealClock(), retry=RetryPolicy(initial=0.05, maximum=2, jitter=0))
    dice = random.Random(1)
    fake.reset_calls()
    fake.faults.fail_when(
        lambda _: dice.random() < 0.3, status=429, reason="rateLimitExceeded", retry_after=1
    )
    ingress = _converge(lambda: built.ensure(service_lb(nodes)))[0]
    until("every instance answering", lambda: set(spread(world, ingress.ip)) == set(NODES))
    client = f"{world.outside.client_ip}/32"
    with Stream(world, ingress.ip) as stream:
        _converge(lambda: built.ensure(service_lb(nodes, ranges=(client,))))
        time.sleep(1)
    assert stream.failure_ratio < 0.01, f"{stream.failed} of {stream.ok + stream.failed} failed"
    assert built.ensure(service_lb(nodes, ranges=(client,))) == (ingress,)
    retries = _retry_gaps(fake.calls)
    assert retries, "no throttled call was retried: the fault did not bite"
    assert min(retries) >= 1.0, f"retried sooner than Retry-After: 1 ({min(retries):.2f} s)"
    print(f"{len(retries)} throttled calls retried, {min(retries):.2f}-{max(retries):.2f} s later")


def _retry_gaps(calls: list[Call]) -> list[float]:
    """Seconds from each throttled call to the next call of the same method on the
    same path (its retry; mutations keep their requestId, so that matches too)."""
    gaps = []
    for i, call in enumerate(calls):
        if call.status != 429:
            continue
        same = (c for c in calls[i + 1 :] if (c.method, c.path) == (call.method, call.path))
        if call.mutating:
            same = (c for c in same if c.query.get("requestId") == call.query.get("requestId"))
        retry = next(same, None)
        if retry is not None:
            gaps.append(retry.at - call.at)
    return gaps


def _converge(attempt: Callable[[], T], tries: int = 20) -> T:
    """`attempt` until it succeeds, as the controller requeues a failed reconcile
    (after the Retry-After a throttled one carried)."""
    for _ in range(tries - 1):
        try:
            return attempt()
        except TemporaryError as error:
            time.sleep(error.retry_after or 0)
        except LbctlError:
            continue
    return attempt()


CREATE_CALLS = _clean_run(SCENARIOS["create"])


@pytest.mark.parametrize(
    "after", range(len(CREATE_CALLS)), ids=[f"{i}-{m}" for i, m in enumerate(CREATE_CALLS)]
)
def test_killed_after_each_mutating_call_of_a_create_the_restart_serves_and_leaks_nothing(
    world: World, gce: tuple[GCEFake, list[Node]], make_provider: ProviderFactory, after: int
) -> None:
    fake, nodes = gce
    dying = make_provider()
    KillSwitch(after=after).arm(dying.api.clients)
    with pytest.raises(Killed):
        dying.ensure(service_lb(nodes))
    [ingress] = make_provider().ensure(service_lb(nodes))  # the restarted controller
    until("every instance answering", lambda: set(spread(world, ingress.ip)) == set(NODES))
    assert fake.names() == lb_names(), "something leaked or was doubled"
