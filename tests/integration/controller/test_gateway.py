"""lbctl.kube.gateway against a real apiserver: its refusals become lbcommon.errors types."""

from __future__ import annotations

import pytest
from kubernetes import client, config

from lbcommon.errors import (
    ForbiddenError,
    PermanentError,
    ServiceGoneError,
    TemporaryError,
)
from lbcommon.model import CLEANUP_FINALIZER, OWNER_ANNOTATION, Ingress, service_key
from lbctl.kube.gateway import KubeGateway
from localcluster.controlplane import ControlPlane
from tests.integration.controller.conftest import lb_service

pytestmark = pytest.mark.integration

INGRESS = (Ingress(ip="198.18.0.200"),)


def test_writes_to_a_missing_service_are_service_gone(
    kube: client.ApiClient, namespace: str
) -> None:
    gateway = KubeGateway(kube)
    key = service_key(namespace, "absent")
    with pytest.raises(ServiceGoneError):
        gateway.patch_ingress(key, INGRESS)
    with pytest.raises(ServiceGoneError):
        gateway.claim(key, finalizer=CLEANUP_FINALIZER, annotation=(OWNER_ANNOTATION, "x/y"))
    gateway.release(key, finalizer=CLEANUP_FINALIZER, annotation=OWNER_ANNOTATION)  # fine


def test_an_invalid_status_is_permanent(kube: client.ApiClient, namespace: str) -> None:
    client.CoreV1Api(kube).create_namespaced_service(namespace, lb_service("web", "x.io/lb"))
    with pytest.raises(PermanentError) as raised:
        KubeGateway(kube).patch_ingress(
            service_key(namespace, "web"), (Ingress(ip="198.18.0.300"),)
        )
    assert not isinstance(raised.value, TemporaryError)
    assert "198.18.0.300" in str(raised.value)  # the apiserver's own message


def test_a_write_without_permission_names_the_verb_and_resource(
    kube: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    client.CoreV1Api(kube).create_namespaced_service(namespace, lb_service("web", "x.io/lb"))
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    api.set_default_header("Impersonate-User", "lbctl-test-nobody")
    gateway = KubeGateway(api)
    try:
        with pytest.raises(ForbiddenError, match=r"^patch services/status [^ ]+: forbidden: "):
            gateway.patch_ingress(service_key(namespace, "web"), INGRESS)
        with pytest.raises(ForbiddenError, match=r"^list services: forbidden: "):
            gateway.service_specs()
    finally:
        gateway.close()
