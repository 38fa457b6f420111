"""Informers survive a dropped watch, an expired resourceVersion and an apiserver restart.

These tests run their own control plane with the apiserver's watch cache off,
so a compacted etcd makes an old resourceVersion fail with 410 Gone exactly as
it does on a long-running cluster.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from lbctl.kube.gateway import KubeGateway
from localcluster.controlplane import ControlPlane, ControlPlaneSettings
from tests.integration.controller.conftest import ControllerHarness, lb_service, wait_ingress
from tests.kubehelpers import create_namespace, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def uncached() -> Iterator[tuple[ControlPlane, client.ApiClient]]:
    settings = ControlPlaneSettings(extra_apiserver_flags=("--watch-cache=false",))
    with ControlPlane(settings) as cp:
        api = config.new_client_from_config(config_file=str(cp.kubeconfig))
        create_namespace(api, "recovery")
        try:
            yield cp, api
        finally:
            api.close()


class WatchedGateway(KubeGateway):
    """A gateway that counts Service lists and can drop the Service watch, as a network would."""

    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(api)
        self._lock = threading.Lock()
        self._lists = 0
        self._watch: Any = None

    @property
    def lists(self) -> int:
        with self._lock:
            return self._lists

    def list_services(self, **kwargs: Any) -> Any:
        response = super().list_services(**kwargs)
        with self._lock:
            if kwargs.get("watch"):
                self._watch = response
            else:
                self._lists += 1
        return response

    def drop_watch(self) -> None:
        """Shut the open watch connection down under the informer's feet."""
        wait_for("an open Service watch", lambda: self._watch is not None)
        with self._lock:
            response, self._watch = self._watch, None
        with contextlib.suppress(Exception):
            response.shutdown()


@pytest.fixture
def recovery_harness(
    uncached: tuple[ControlPlane, client.ApiClient],
) -> Iterator[ControllerHarness]:
    harness = ControllerHarness(uncached[1], "test.lbctl.io/recovery")
    try:
        yield harness
    finally:
        harness.stop_all()


def test_dropped_watch_resumes(
    uncached: tuple[ControlPlane, client.ApiClient], recovery_harness: ControllerHarness
) -> None:
    _, api = uncached
    gateway = WatchedGateway(api)
    recovery_harness.start(gateway=gateway)
    lists = gateway.lists
    gateway.drop_watch()
    client.CoreV1Api(api).create_namespaced_service(
        "recovery", lb_service("after-drop", recovery_harness.lb_class)
    )
    wait_ingress(api, "recovery", "after-drop")
    assert gateway.lists == lists  # resumed, not relisted


def test_expired_resource_version_relists(
    uncached: tuple[ControlPlane, client.ApiClient], recovery_harness: ControllerHarness
) -> None:
    cp, api = uncached
    core = client.CoreV1Api(api)
    gateway = WatchedGateway(api)
    controller = recovery_harness.start(gateway=gateway)
    informer = controller.services
    stale = informer._resource_version
    core.create_namespaced_service("recovery", lb_service("churn", recovery_harness.lb_class))
    wait_ingress(api, "recovery", "churn")
    # While "disconnected", a Service is deleted; then history is compacted.
    core.delete_namespaced_service("churn", "recovery")
    wait_for("churn gone", lambda: "churn" not in _names(core))
    cp.compact_etcd()
    lists = gateway.lists
    informer._resource_version = stale
    gateway.drop_watch()
    wait_for("relist after 410 Gone", lambda: gateway.lists > lists)
    assert informer.get("recovery/churn") is None
    core.create_namespaced_service("recovery", lb_service("after-410", recovery_harness.lb_class))
    wait_ingress(api, "recovery", "after-410")


def test_apiserver_restart_is_survived(
    uncached: tuple[ControlPlane, client.ApiClient], recovery_harness: ControllerHarness
) -> None:
    cp, api = uncached
    controller = recovery_harness.start()
    cp.restart_apiserver()
    client.CoreV1Api(api).create_namespaced_service(
        "recovery", lb_service("after-restart", recovery_harness.lb_class)
    )
    wait_ingress(api, "recovery", "after-restart", timeout=60)
    assert controller.healthy


def _names(core: client.CoreV1Api) -> set[str]:
    return {s.metadata.name for s in core.list_namespaced_service("recovery").items}
