"""One control plane with RBAC for the whole package, the shipped roles on it, and helpers.

The control plane is this package's own (not the session's): the tests
install lbctl-system and lbctl-nodeproxy and re-apply the roles, and the
programs they run watch every namespace, so nothing else should share it.
Its apiserver authorizes with `Node,RBAC` (localcluster.controlplane), as a
real cluster does.

`roles` re-applies the shipped objects with one grant removed and restores
them after the test, each time waiting for the apiserver's authorizer to
agree (a SubjectAccessReview), never for a fixed time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from localcluster.build import ensure_named
from localcluster.controlplane import ControlPlane
from tests.integration.deploy.kubectl_cli import render, run_kubectl
from tests.integration.rbac.roles import Identity, shipped, wait_authorized, without
from tests.kubehelpers import merge_patch_service
from tests.unit.deploy.manifests import DEPLOY, DOC, Grant, Obj, documented_grants

OVERLAY = DEPLOY / "overlays" / "local"
#: one pytest-xdist worker runs the package: its tests share the control plane
#: and take turns re-applying the roles
GROUP = "rbac"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this package's tests on one xdist worker (the mark exists only with xdist)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "tests/integration/rbac/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group(GROUP))


@pytest.fixture(scope="package")
def plane() -> Iterator[ControlPlane]:
    with ControlPlane() as cp:
        yield cp


@pytest.fixture(scope="package")
def admin(plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(plane.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="package")
def kubectl() -> Path:
    return ensure_named(["kubectl"])["kubectl"]


@dataclass
class Roles:
    """Applies the shipped RBAC objects, or them without one grant."""

    api: client.ApiClient
    kubectl: Path
    kubeconfig: Path
    objects: list[Obj]
    grants: list[Grant] = field(default_factory=list)
    removed: Grant | None = None

    def apply(self, objects: list[Obj]) -> None:
        proc = run_kubectl(
            self.kubectl,
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
            kubeconfig=self.kubeconfig,
        )
        assert proc.returncode == 0, proc.stderr

    def remove(self, grant: Grant) -> None:
        """The shipped roles without `grant`, in force when this returns."""
        self.apply(without(self.objects, grant))
        self.removed = grant
        wait_authorized(self.api, grant, allowed_now=False)

    def restore(self) -> None:
        """The shipped roles, every documented grant in force when this returns."""
        self.apply(self.objects)
        self.removed = None
        for grant in self.grants:
            wait_authorized(self.api, grant, allowed_now=True)


@pytest.fixture(scope="package")
def shipped_roles(plane: ControlPlane, admin: client.ApiClient, kubectl: Path) -> Roles:
    """The local overlay's Namespaces, ServiceAccounts and RBAC, applied as shipped."""
    roles = Roles(
        admin,
        kubectl,
        plane.kubeconfig,
        shipped(render(kubectl, OVERLAY)),
        grants=documented_grants(DOC.read_text()),
    )
    roles.restore()
    return roles


@pytest.fixture
def roles(shipped_roles: Roles) -> Iterator[Roles]:
    """The shipped roles; whatever a test removes is given back afterwards."""
    yield shipped_roles
    if shipped_roles.removed is not None:
        shipped_roles.restore()


@pytest.fixture(scope="package")
def kubeconfigs(plane: ControlPlane, shipped_roles: Roles) -> dict[str, Path]:
    """Program name -> a kubeconfig that authenticates as its ServiceAccount."""
    return {account: Identity(account).kubeconfig(plane) for account in ("lbctl", "nodeproxy")}


@pytest.fixture
def case_namespace(admin: client.ApiClient) -> Iterator[str]:
    """A fresh namespace; its Services lose their finalizers before it is deleted."""
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(admin)
    # No pods run here, so there is no need to wait for its default ServiceAccount.
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    for svc in core.list_namespaced_service(name).items:
        if svc.metadata.finalizers:
            merge_patch_service(admin, name, svc.metadata.name, {"metadata": {"finalizers": None}})
        try:
            core.delete_namespaced_service(svc.metadata.name, name)
        except ApiException as err:
            if err.status != 404:
                raise
    core.delete_namespace(name)
