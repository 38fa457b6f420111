"""`lbctl run` as its ServiceAccount: the baseline, and one scenario per granted verb.

Each scenario runs lbctl with its roles missing one verb, drives the
behaviour that needs the verb, and asserts both halves: the behaviour fails
(no ingress, no finalizer, no event, no count, no leadership, ...) and the
403 reaches a user (a Warning event on the Service, else a log record that
names the verb and the resource). `baseline` runs every one of those
behaviours with the shipped roles and sees each succeed, so no scenario can
pass by testing something that never worked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from lbcommon.model import CLEANUP_FINALIZER
from tests.integration.controller.conftest import events, ingress_ip, lb_service
from tests.integration.rbac.programs import GRACE, LBCTL, Program, forbidden, free_port, never
from tests.kubehelpers import NodeObjects, merge_patch_service, wait_for
from tests.unit.deploy.manifests import BASE_LEASE, NAMESPACE

POOL = "198.18.0.200-198.18.0.250"
#: Node InternalIPs: data only, nothing is ever sent to them
NODE_IPS = ("198.18.1.1", "198.18.1.2")
STARTED = "controller started"
LEADER = "became leader"


@dataclass
class LbctlCase:
    """One lbctl process with the Service `web` in a namespace of its own."""

    admin: client.ApiClient
    kubeconfig: Path
    namespace: str
    logs: Path
    nodes: NodeObjects
    identity: str = field(default_factory=lambda: f"rbac-{uuid.uuid4().hex[:8]}")
    program: Program | None = None

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.admin)

    def start(self) -> Program:
        port = free_port()
        self.program = Program(
            f"lbctl-{self.identity}",
            [
                str(LBCTL),
                "run",
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect",
                f"--leader-elect-namespace={NAMESPACE}",
                f"--leader-elect-id={self.identity}",
                "--default-class",
                f"--pool={POOL}",
                f"--metrics-addr=127.0.0.1:{port}",
            ],
            log=self.logs / f"lbctl-{self.identity}.log",
        )
        self.program.metrics_port = port
        return self.program.start()

    def close(self) -> None:
        if self.program is not None:
            self.program.close()
        self.delete_lease()

    # -- the Service --------------------------------------------------------

    def create(self, name: str = "web") -> None:
        self.core.create_namespaced_service(self.namespace, lb_service(name, None))

    def edit(self, port: int, name: str = "web") -> None:
        ports = [{"name": "p0", "port": port, "protocol": "TCP", "targetPort": 8080}]
        merge_patch_service(self.admin, self.namespace, name, {"spec": {"ports": ports}})

    def ingress(self, name: str = "web") -> str | None:
        return ingress_ip(self.admin, self.namespace, name)

    def finalizers(self, name: str = "web") -> list[str]:
        svc = self.core.read_namespaced_service(name, self.namespace)
        return list(svc.metadata.finalizers or [])

    def exists(self, name: str = "web") -> bool:
        try:
            self.core.read_namespaced_service(name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def events(self, name: str = "web") -> list[client.CoreV1Event]:
        return events(self.admin, self.namespace, name)

    def event(self, reason: str, name: str = "web") -> client.CoreV1Event | None:
        return next((e for e in self.events(name) if e.reason == reason), None)

    # -- the leader Lease ---------------------------------------------------

    def lease(self) -> client.V1Lease | None:
        try:
            lease: client.V1Lease = client.CoordinationV1Api(self.admin).read_namespaced_lease(
                BASE_LEASE, NAMESPACE
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return lease

    def holder(self) -> str:
        lease = self.lease()
        return str((lease and lease.spec.holder_identity) or "")

    def free_lease(self) -> None:
        """A Lease nobody holds, as a released one looks: taking it is an update."""
        self.delete_lease()
        client.CoordinationV1Api(self.admin).create_namespaced_lease(
            NAMESPACE,
            client.V1Lease(
                metadata=client.V1ObjectMeta(name=BASE_LEASE),
                spec=client.V1LeaseSpec(lease_duration_seconds=1),
            ),
        )

    def delete_lease(self) -> None:
        try:
            client.CoordinationV1Api(self.admin).delete_namespaced_lease(BASE_LEASE, NAMESPACE)
        except ApiException as err:
            if err.status != 404:
                raise


def _warning(case: LbctlCase, verb: str, resource: str) -> client.CoreV1Event:
    """The Warning event on `web` that reports `verb` on `resource` as forbidden."""

    def find() -> client.CoreV1Event | None:
        for event in case.events():
            message = event.message or ""
            if event.type == "Warning" and forbidden(message, verb, resource) is not None:
                return event
        return None

    return wait_for(f"a Warning event: {verb} {resource} forbidden", find, timeout=20)


def _count(case: LbctlCase, reason: str) -> int:
    event = case.event(reason)
    return int((event and event.count) or 0)


def _not_leading(case: LbctlCase, program: Program) -> None:
    never("lbctl leading", lambda: case.holder() == case.identity or LEADER in program.text())
    assert case.ingress() is None
    assert STARTED not in program.text()


# -- the scenarios, one per row of the table -------------------------------


def services_list(case: LbctlCase) -> None:
    case.create()
    program = case.start()
    program.wait_forbidden("list", "services")
    never("an ingress without a Service list", case.ingress)
    assert STARTED not in program.text(), "the controller started without its Services"


def services_watch(case: LbctlCase) -> None:
    program = case.start()
    program.wait_log("the controller to start", STARTED, timeout=30)
    program.wait_forbidden("watch", "services")
    case.create()
    never("an ingress for a Service created after the list", case.ingress)


def services_patch(case: LbctlCase) -> None:
    case.create()
    case.start()
    event = _warning(case, "patch", "services")
    assert event.reason == "SyncLoadBalancerFailed"
    assert CLEANUP_FINALIZER not in case.finalizers()
    assert case.ingress() is None


def services_status_patch(case: LbctlCase) -> None:
    case.create()
    case.start()
    event = _warning(case, "patch", "services/status")
    assert event.reason == "SyncLoadBalancerFailed"
    assert CLEANUP_FINALIZER in case.finalizers(), "the claim (services patch) was allowed"
    assert case.ingress() is None


def nodes_list(case: LbctlCase) -> None:
    case.create()
    program = case.start()
    program.wait_forbidden("list", "nodes")
    never("an ingress without a Node list", case.ingress)
    assert STARTED not in program.text(), "the controller started without its Nodes"


def nodes_watch(case: LbctlCase) -> None:
    case.create()
    program = case.start()
    wait_for("the ingress", case.ingress, timeout=30)
    program.wait_forbidden("watch", "nodes")
    case.nodes.add("late", NODE_IPS[1])
    never("node sync for a Node added after the list", lambda: case.event("UpdatedLoadBalancer"))


def events_create(case: LbctlCase) -> None:
    case.create()
    program = case.start()
    wait_for("the ingress", case.ingress, timeout=30)
    record = program.wait_forbidden("create", "events")
    assert "could not record event" in record
    program.wait_log("EnsuredLoadBalancer not recorded", "could not record event EnsuredLoad")
    assert case.events() == []


def events_patch(case: LbctlCase) -> None:
    case.create()
    program = case.start()
    wait_for("the ingress", case.ingress, timeout=30)
    wait_for("EnsuredLoadBalancer", lambda: case.event("EnsuredLoadBalancer"), timeout=GRACE)
    case.edit(81)
    record = program.wait_forbidden("patch", "events")
    assert "could not record event EnsuringLoadBalancer" in record
    counts = {(e.reason, e.count) for e in case.events()}
    assert all(count == 1 for _, count in counts), counts


def leases_create(case: LbctlCase) -> None:
    case.delete_lease()
    case.create()
    program = case.start()
    program.wait_forbidden("create", "leases")
    _not_leading(case, program)
    assert case.lease() is None


def leases_get(case: LbctlCase) -> None:
    case.create()
    program = case.start()
    program.wait_forbidden("get", "leases")
    _not_leading(case, program)


def leases_update(case: LbctlCase) -> None:
    case.free_lease()
    case.create()
    program = case.start()
    program.wait_forbidden("update", "leases")
    _not_leading(case, program)


SCENARIOS: dict[tuple[str, str], Callable[[LbctlCase], None]] = {
    ("services", "list"): services_list,
    ("services", "watch"): services_watch,
    ("services", "patch"): services_patch,
    ("services/status", "patch"): services_status_patch,
    ("nodes", "list"): nodes_list,
    ("nodes", "watch"): nodes_watch,
    ("events", "create"): events_create,
    ("events", "patch"): events_patch,
    ("leases", "create"): leases_create,
    ("leases", "get"): leases_get,
    ("leases", "update"): leases_update,
}


def baseline(case: LbctlCase) -> None:
    """Every behaviour the scenarios take away, with the shipped roles."""
    case.delete_lease()  # the first candidate creates it
    case.create()
    program = case.start()
    # leases get, create: leadership; services, nodes list: the controller starts
    wait_for("leadership", lambda: case.holder() == case.identity, timeout=30)
    program.wait_log("the controller to start", STARTED, timeout=GRACE)
    # services patch (claim), services/status patch (ingress)
    wait_for("the ingress", case.ingress, timeout=GRACE)
    assert CLEANUP_FINALIZER in case.finalizers()
    # events create, then patch: an edit repeats EnsuringLoadBalancer
    wait_for("EnsuredLoadBalancer", lambda: case.event("EnsuredLoadBalancer"), timeout=GRACE)
    before = _count(case, "EnsuringLoadBalancer")
    case.edit(81)
    wait_for(
        "EnsuringLoadBalancer counted again",
        lambda: _count(case, "EnsuringLoadBalancer") > before,
        timeout=GRACE,
    )
    # nodes watch: node sync for a Node added now
    case.nodes.add("late", NODE_IPS[1])
    wait_for("node sync", lambda: case.event("UpdatedLoadBalancer"), timeout=GRACE)
    # services watch: a Service created now
    case.create("later")
    wait_for("the later Service's ingress", lambda: case.ingress("later"), timeout=GRACE)
    # the deletion path needs no verb beyond these: the finalizer goes, the Service with it
    case.core.delete_namespaced_service("later", case.namespace)
    wait_for("the later Service gone", lambda: not case.exists("later"), timeout=GRACE)
    # leases update: renewals so far, and the release on a clean stop
    assert program.stop() == 0, program.text()[-4000:]
    assert case.holder() == "", "a clean stop releases the Lease"
    assert LEADER in program.text()
