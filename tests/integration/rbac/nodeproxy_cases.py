"""`nodeproxy` as its ServiceAccount: the baseline, and one scenario per granted verb.

nodeproxy talks to the apiserver from the root namespace and keeps its data
plane in a throwaway network namespace (tests.netns: a bridge and one host,
`eth0` in 198.19.X.0/24, no route out). Services carry ingress addresses of
that subnet, which nodeproxy announces by adding them to `eth0`; Nodes are
data (InternalIPs in 198.18.1.0/24, unreachable from the namespace, so their
health checks fail at once, which is all the tests need: a checked target is
a Node nodeproxy knows).

What a user sees of each verb: `list` and `watch` of Services as addresses
announced, of Nodes as health-checked backends (`nodeproxy_backend_healthy`),
of Leases as live peers (`nodeproxy_live_instances`); `create` and `patch` of
its Lease as the Lease appearing and renewing; `delete` as the Lease gone
after a clean stop. A 403 is reported in the log, naming verb and resource.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from nodeproxy.announce import LEASE_LABEL, lease_name
from tests.integration.rbac.programs import (
    GRACE,
    NODEPROXY,
    Program,
    forbidden,
    free_port,
    never,
)
from tests.kubehelpers import NodeObjects, wait_for
from tests.netns import Host, Topology
from tests.unit.deploy.manifests import LEASE_NAMESPACE

NODE_IPS = ("198.18.1.1", "198.18.1.2")
LB_CLASS = "rbac.test/nodeproxy"


@dataclass
class NodeproxyCase:
    """One nodeproxy process for node `identity`, its data plane in `host`'s namespace."""

    admin: client.ApiClient
    kubeconfig: Path
    namespace: str
    logs: Path
    topo: Topology
    host: Host
    nodes: NodeObjects
    identity: str = field(default_factory=lambda: f"rbac-{uuid.uuid4().hex[:8]}")
    program: Program | None = None
    _renewed: float = field(default=float("-inf"), init=False)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.admin)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.admin)

    def ip(self, index: int) -> IPv4Address:
        return self.topo.address(200 + index)

    def start(self) -> Program:
        port = free_port()
        self.program = Program(
            f"nodeproxy-{self.identity}",
            [
                str(NODEPROXY),
                f"--kubeconfig={self.kubeconfig}",
                "--interface=eth0",
                f"--node-name={self.identity}",
                f"--netns={self.host.ns}",
                f"--pool={self.ip(0)}-{self.ip(50)}",
                # No --lease-namespace: its default must be where the shipped
                # roles let nodeproxy keep its Leases (LEASE_NAMESPACE).
                f"--metrics-addr=127.0.0.1:{port}",
            ],
            log=self.logs / f"nodeproxy-{self.identity}.log",
        )
        self.program.metrics_port = port
        return self.program.start()

    def close(self) -> None:
        if self.program is not None:
            self.program.close()
        for name in (lease_name(self.identity), lease_name(self.peer)):
            self.delete_lease(name)

    # -- what nodeproxy reads -------------------------------------------------

    def create(self, name: str, ip: IPv4Address) -> None:
        """A LoadBalancer Service whose published ingress is `ip`."""
        self.core.create_namespaced_service(
            self.namespace,
            client.V1Service(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1ServiceSpec(
                    type="LoadBalancer",
                    load_balancer_class=LB_CLASS,
                    ports=[client.V1ServicePort(port=80, protocol="TCP")],
                ),
            ),
        )
        self.core.patch_namespaced_service_status(
            name, self.namespace, {"status": {"loadBalancer": {"ingress": [{"ip": str(ip)}]}}}
        )

    # -- what nodeproxy does ----------------------------------------------------

    def holds(self, ip: IPv4Address) -> bool:
        out = self.host.run("ip", "-j", "-4", "addr", "show", "dev", "eth0", check=False)
        return any(
            a.get("local") == str(ip) for link in json.loads(out or "[]") for a in link["addr_info"]
        )

    def checks(self, node_ip: str) -> bool:
        """Whether nodeproxy health-checks the node at `node_ip` (it knows that Node)."""
        assert self.program is not None
        return f'target="{node_ip}:' in self.program.metric()[1]

    def live(self) -> float | None:
        assert self.program is not None
        found = re.search(r"^nodeproxy_live_instances (\S+)$", self.program.metric()[1], re.M)
        return float(found.group(1)) if found else None

    def ready(self) -> bool:
        assert self.program is not None
        return self.program.metric("/readyz")[0] == 200

    def lease(self, name: str | None = None) -> client.V1Lease | None:
        try:
            lease: client.V1Lease = self.coordination.read_namespaced_lease(
                name or lease_name(self.identity), LEASE_NAMESPACE
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return lease

    def delete_lease(self, name: str) -> None:
        try:
            self.coordination.delete_namespaced_lease(name, LEASE_NAMESPACE)
        except ApiException as err:
            if err.status != 404:
                raise

    # -- a peer instance, played by the test ------------------------------------

    @property
    def peer(self) -> str:
        return f"{self.identity}-peer"

    def renew_peer(self) -> None:
        """Create or renew the peer's heartbeat Lease, as its nodeproxy would."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": self.peer, "leaseDurationSeconds": 3, "renewTime": now}
        metadata: dict[str, object] = {"labels": {LEASE_LABEL: "true"}}
        body = {"metadata": metadata, "spec": spec}
        try:
            self.coordination.patch_namespaced_lease(
                lease_name(self.peer),
                LEASE_NAMESPACE,
                body,
                _content_type="application/merge-patch+json",
            )
        except ApiException as err:
            if err.status != 404:
                raise
            metadata["name"] = lease_name(self.peer)
            self.coordination.create_namespaced_lease(LEASE_NAMESPACE, body)

    def sees_live_peer(self) -> bool:
        """Renew the peer (at most twice a second); whether nodeproxy counts it live."""
        if time.monotonic() - self._renewed >= 0.5:
            self.renew_peer()
            self._renewed = time.monotonic()
        return self.live() == 2


def _not_ready(case: NodeproxyCase) -> None:
    assert not case.ready(), "ready although a cache or the own Lease is missing"


# -- the scenarios, one per row of the table -------------------------------


def services_list(case: NodeproxyCase) -> None:
    case.create("web", case.ip(0))
    program = case.start()
    program.wait_forbidden("list", "services")
    never("an announced address without a Service list", lambda: case.holds(case.ip(0)))
    _not_ready(case)


def services_watch(case: NodeproxyCase) -> None:
    program = case.start()
    wait_for("readiness", case.ready, timeout=30)
    program.wait_forbidden("watch", "services")
    case.create("later", case.ip(1))
    never("the address of a Service created after the list", lambda: case.holds(case.ip(1)))


def nodes_list(case: NodeproxyCase) -> None:
    case.create("web", case.ip(0))
    program = case.start()
    program.wait_forbidden("list", "nodes")
    never("a health-checked Node without a Node list", lambda: case.checks(NODE_IPS[0]))
    _not_ready(case)


def nodes_watch(case: NodeproxyCase) -> None:
    case.create("web", case.ip(0))
    program = case.start()
    wait_for("the first Node checked", lambda: case.checks(NODE_IPS[0]), timeout=30)
    program.wait_forbidden("watch", "nodes")
    case.nodes.add("late", NODE_IPS[1])
    never("a Node added after the list checked", lambda: case.checks(NODE_IPS[1]))


def leases_list(case: NodeproxyCase) -> None:
    case.create("web", case.ip(0))
    program = case.start()
    program.wait_forbidden("list", "leases")
    never("an announced address without the Lease list", lambda: case.holds(case.ip(0)))
    _not_ready(case)


def leases_watch(case: NodeproxyCase) -> None:
    program = case.start()
    wait_for("readiness", case.ready, timeout=30)
    program.wait_forbidden("watch", "leases")
    never("a peer seen renewing", case.sees_live_peer)


def leases_patch(case: NodeproxyCase) -> None:
    program = case.start()
    record = program.wait_forbidden("patch", "leases")
    assert "renewing our lease failed" in record
    never("our Lease", case.lease)
    _not_ready(case)


def leases_create(case: NodeproxyCase) -> None:
    program = case.start()
    record = program.wait_forbidden("create", "leases")
    assert "renewing our lease failed" in record
    never("our Lease", case.lease)
    _not_ready(case)


def leases_delete(case: NodeproxyCase) -> None:
    program = case.start()
    wait_for("readiness", case.ready, timeout=30)
    assert program.stop() == 0, program.text()[-4000:]
    record = forbidden(program.text(), "delete", "leases")
    assert record is not None and "deleting our lease failed" in record, program.text()[-4000:]
    assert case.lease() is not None, "the Lease outlived the clean stop"


SCENARIOS: dict[tuple[str, str], Callable[[NodeproxyCase], None]] = {
    ("services", "list"): services_list,
    ("services", "watch"): services_watch,
    ("nodes", "list"): nodes_list,
    ("nodes", "watch"): nodes_watch,
    ("leases", "list"): leases_list,
    ("leases", "watch"): leases_watch,
    ("leases", "patch"): leases_patch,
    ("leases", "create"): leases_create,
    ("leases", "delete"): leases_delete,
}


def baseline(case: NodeproxyCase) -> None:
    """Every behaviour the scenarios take away, with the shipped roles."""
    case.create("web", case.ip(0))
    program = case.start()
    # leases create (first renew), patch (the others), list (ready needs the sync)
    wait_for("readiness", case.ready, timeout=30)
    first = case.lease()
    assert first is not None
    wait_for(
        "a renewal",
        lambda: (lease := case.lease()) and lease.spec.renew_time != first.spec.renew_time,
        timeout=GRACE,
    )
    # services list, nodes list
    wait_for("the address announced", lambda: case.holds(case.ip(0)), timeout=GRACE)
    wait_for("the first Node checked", lambda: case.checks(NODE_IPS[0]), timeout=GRACE)
    # services watch, nodes watch
    case.create("later", case.ip(1))
    wait_for("the later address announced", lambda: case.holds(case.ip(1)), timeout=GRACE)
    case.nodes.add("late", NODE_IPS[1])
    wait_for("the later Node checked", lambda: case.checks(NODE_IPS[1]), timeout=GRACE)
    # leases watch: a peer's renewals
    wait_for("a peer seen renewing", case.sees_live_peer, timeout=GRACE)
    # leases delete: a clean stop hands over at once
    assert program.stop() == 0, program.text()[-4000:]
    assert case.lease() is None, "a clean stop deletes the Lease"
