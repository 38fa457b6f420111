"""Every call lbctl makes to Kubernetes for the controller: lists, Service writes, events.

Implements lbctl.controller.ports.ClusterGateway. Writes are patches that
cannot clobber concurrent writers: finalizers use strategic-merge list
operations (add or delete one entry), status uses a patch of the status
subresource only. Reads for `plan` and `gc` list raw JSON and translate it
once, like the informers, never through the client's models.

API errors become lbcommon.errors types, the original chained, through the
one mapping in lbcommon.kube.errors; a 404 on a Service write is
ServiceGoneError (the Service was deleted under us).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from lbcommon.errors import (
    ServiceGoneError,
    StatusCondition,
)
from lbcommon.informer import Obj
from lbcommon.kube.convert import ingress_to_api, node_from_api, service_from_api
from lbcommon.kube.errors import api_error, is_not_found
from lbcommon.model import Ingress, NodeInfo, ServiceKey, ServiceSpec
from lbctl.controller.ports import ObjectRef

log = logging.getLogger(__name__)

T = TypeVar("T")

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
PAGE_SIZE = 500
#: the event source and reporting component
COMPONENT = "lbctl"


def call(verb: str, resource: str, target: str, func: Callable[[], T]) -> T:
    """Run one API call (`verb` on `resource`, about `target`), translating its failures.

    Writes pass `_preload_content=False`: the controller never reads the
    response body, and deserialising it into client models costs more CPU
    than the request itself. A 404 is ServiceGoneError only for the Service
    or its status (the Service was deleted under us); elsewhere (an expired
    Event) it maps like any other failure.
    """
    try:
        result = func()
    except (ApiException, HTTPError, OSError) as err:
        if is_not_found(err) and resource.split("/", maxsplit=1)[0] == "services":
            raise ServiceGoneError(f"{verb} {resource} {target}: not found") from err
        raise api_error(err, verb=verb, resource=resource, target=target) from err
    raw: Any = result
    if hasattr(raw, "release_conn"):  # a raw response: return it to the pool
        raw.drain_conn()
        raw.release_conn()
    return result


class KubeGateway:
    """The controller's apiserver calls (lbctl.controller.ports.ClusterGateway)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self._host = os.uname().nodename

    def close(self) -> None:
        self.api.close()

    # -- reads --------------------------------------------------------------

    def list_services(self, **kwargs: Any) -> Any:
        """List or watch Services in all namespaces (kwargs as the client takes them)."""
        return self.core.list_service_for_all_namespaces(**kwargs)

    def list_nodes(self, **kwargs: Any) -> Any:
        """List or watch Nodes (kwargs as the client takes them)."""
        return self.core.list_node(**kwargs)

    def service_from_api(self, obj: Obj) -> ServiceSpec:
        """One wire-form Service as its domain value (lbcommon.kube.convert)."""
        return service_from_api(obj)

    def node_from_api(self, obj: Obj) -> NodeInfo:
        """One wire-form Node as its domain value (lbcommon.kube.convert)."""
        return node_from_api(obj)

    def service_specs(self) -> list[ServiceSpec]:
        """Every Service, translated once (for `plan` and `gc`)."""
        return [service_from_api(obj) for obj in self._list_raw("services", self.list_services)]

    def node_infos(self) -> list[NodeInfo]:
        """Every Node, translated once (for `plan`)."""
        return [node_from_api(obj) for obj in self._list_raw("nodes", self.list_nodes)]

    def _list_raw(self, resource: str, list_func: Callable[..., Any]) -> Iterator[Obj]:
        """Page through a list as raw JSON, never through the client's models."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            response = _read("list", resource, list_func, kwargs)
            yield from response.get("items") or []
            token = (response.get("metadata") or {}).get("continue")
            if not token:
                return

    # -- Services -----------------------------------------------------------

    def claim(self, key: ServiceKey, *, finalizer: str, annotation: tuple[str, str]) -> None:
        """Add our finalizer and ownership annotation in one patch."""
        namespace, name = key.split("/", 1)
        body = {
            "metadata": {
                "finalizers": [finalizer],
                "annotations": {annotation[0]: annotation[1]},
            }
        }
        call(
            "patch",
            "services",
            key,
            lambda: self.core.patch_namespaced_service(
                name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
            ),
        )

    def release(self, key: ServiceKey, *, finalizer: str, annotation: str) -> None:
        """Remove our finalizer and ownership annotation; a vanished Service is fine."""
        namespace, name = key.split("/", 1)
        body = {
            "metadata": {
                "$deleteFromPrimitiveList/finalizers": [finalizer],
                "annotations": {annotation: None},
            }
        }
        with contextlib.suppress(ServiceGoneError):
            call(
                "patch",
                "services",
                key,
                lambda: self.core.patch_namespaced_service(
                    name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
                ),
            )

    def patch_ingress(self, key: ServiceKey, ingress: tuple[Ingress, ...]) -> None:
        namespace, name = key.split("/", 1)
        body = {"status": {"loadBalancer": {"ingress": ingress_to_api(ingress) or None}}}
        call(
            "patch",
            "services/status",
            key,
            lambda: self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
            ),
        )

    def set_condition(self, key: ServiceKey, condition: StatusCondition) -> None:
        """Set one status condition (merged by type, others untouched)."""
        namespace, name = key.split("/", 1)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        item = {
            "type": condition.type,
            "status": "True",
            "reason": condition.reason,
            "message": condition.message,
            "lastTransitionTime": now,
        }
        body = {"status": {"conditions": [item]}}
        call(
            "patch",
            "services/status",
            key,
            lambda: self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
            ),
        )

    def clear_condition(self, key: ServiceKey, condition_type: str) -> None:
        """Remove one status condition by type."""
        namespace, name = key.split("/", 1)
        body = {"status": {"conditions": [{"type": condition_type, "$patch": "delete"}]}}
        call(
            "patch",
            "services/status",
            key,
            lambda: self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
            ),
        )

    # -- Events -------------------------------------------------------------

    def create_event(self, ref: ObjectRef, *, type_: str, reason: str, message: str) -> str:
        now = datetime.datetime.now(datetime.UTC)
        name = f"{ref.name}.{uuid.uuid4().hex[:16]}"
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=name, namespace=ref.namespace),
            involved_object=client.V1ObjectReference(
                kind=ref.kind,
                namespace=ref.namespace,
                name=ref.name,
                uid=ref.uid,
                api_version=ref.api_version,
            ),
            type=type_,
            reason=reason,
            message=message[:1024],
            source=client.V1EventSource(component=COMPONENT, host=self._host),
            reporting_component=COMPONENT,
            reporting_instance=self._host,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        call(
            "create",
            "events",
            f"{reason} for {ref.namespace}/{ref.name}",
            lambda: self.core.create_namespaced_event(ref.namespace, event, _preload_content=False),
        )
        return name

    def bump_event(self, namespace: str, name: str, count: int) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        body = {"count": count, "lastTimestamp": now}
        call(
            "patch",
            "events",
            f"{namespace}/{name}",
            lambda: self.core.patch_namespaced_event(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
            ),
        )


def _read(
    verb: str, resource: str, func: Callable[..., Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Run a raw (`_preload_content=False`) read and return its JSON body."""
    try:
        response = func(**kwargs)
    except (ApiException, HTTPError, OSError) as err:
        raise api_error(err, verb=verb, resource=resource) from err
    try:
        body: dict[str, Any] = json.loads(response.data)
    finally:
        response.release_conn()
    return body
