"""Small helpers for tests that drive a real apiserver."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException

T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Return probe()'s first truthy value; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def create_namespace(api: client.ApiClient, name: str) -> None:
    """Create a namespace and wait for its default ServiceAccount (pods need it)."""
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def has_default_sa() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    wait_for(f"ServiceAccount {name}/default", has_default_sa)


def merge_patch_service(
    api: client.ApiClient, namespace: str, name: str, body: dict[str, Any]
) -> None:
    """JSON merge patch of a Service (the client would otherwise pick JSON patch)."""
    client.CoreV1Api(api).patch_namespaced_service(
        name, namespace, body, _content_type="application/merge-patch+json"
    )


class NodeObjects:
    """Node objects registered as kubelets would (name, InternalIP, labels,
    providerID); `cleanup()` deletes them. They are data: nothing routes to them.
    """

    def __init__(self, api: client.ApiClient, prefix: str) -> None:
        self.core = client.CoreV1Api(api)
        self.prefix = f"{prefix}{uuid.uuid4().hex[:6]}"
        self.names: list[str] = []

    def add(
        self,
        suffix: str,
        address: str,
        *,
        labels: dict[str, str] | None = None,
        provider_id: str | None = None,
    ) -> str:
        name = f"{self.prefix}-{suffix}"
        self.core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
                spec=client.V1NodeSpec(provider_id=provider_id),
            )
        )
        self.core.patch_node_status(
            name, {"status": {"addresses": [{"type": "InternalIP", "address": address}]}}
        )
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            try:
                self.core.delete_node(name)
            except ApiException as err:
                if err.status != 404:
                    raise
