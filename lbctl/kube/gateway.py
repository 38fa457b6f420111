"""Every write lbctl makes to Kubernetes: finalizers, Service status, events.

Writes are patches that cannot clobber concurrent writers: finalizers use
strategic-merge list operations (add or delete one entry), status uses a
merge patch of the status subresource only. API errors become lbcommon.errors.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from lbcommon.errors import ConflictError, ServiceGoneError, StatusCondition, TemporaryError
from lbcommon.kube.convert import ingress_to_api
from lbcommon.model import Ingress, ServiceKey

log = logging.getLogger(__name__)

T = TypeVar("T")

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


def call(what: str, func: Callable[[], T]) -> T:
    """Run one API call, translating its failures into lbctl errors.

    Writes pass `_preload_content=False`: the controller never reads the
    response body, and deserialising it into client models costs more CPU
    than the request itself.
    """
    try:
        result = func()
        raw: Any = result
        if hasattr(raw, "release_conn"):  # a raw response: return it to the pool
            raw.drain_conn()
            raw.release_conn()
        return result
    except ApiException as err:
        if err.status == 404:
            raise ServiceGoneError(f"{what}: not found") from err
        if err.status == 409:
            raise ConflictError(f"{what}: conflict") from err
        raise TemporaryError(f"{what}: HTTP {err.status} {err.reason}") from err
    except (HTTPError, OSError) as err:
        raise TemporaryError(f"{what}: {err}") from err


@dataclass(frozen=True)
class ObjectRef:
    """What an event is about."""

    kind: str
    namespace: str
    name: str
    uid: str
    api_version: str = "v1"


class KubeGateway:
    """Mutations of Services and Events on behalf of the controller."""

    def __init__(self, api: client.ApiClient, *, component: str = "lbctl") -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.component = component
        self._host = os.uname().nodename

    # -- reads (for informers) ----------------------------------------------

    def list_services(self, **kwargs: Any) -> Any:
        """List or watch Services in all namespaces (kwargs as the client takes them)."""
        return self.core.list_service_for_all_namespaces(**kwargs)

    def list_nodes(self, **kwargs: Any) -> Any:
        """List or watch Nodes (kwargs as the client takes them)."""
        return self.core.list_node(**kwargs)

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
            f"claim {key}",
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
                f"release {key}",
                lambda: self.core.patch_namespaced_service(
                    name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
                ),
            )

    def patch_ingress(self, key: ServiceKey, ingress: tuple[Ingress, ...]) -> None:
        namespace, name = key.split("/", 1)
        body = {"status": {"loadBalancer": {"ingress": ingress_to_api(ingress) or None}}}
        call(
            f"patch status of {key}",
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
            f"set condition {condition.type} on {key}",
            lambda: self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
            ),
        )

    def clear_condition(self, key: ServiceKey, condition_type: str) -> None:
        """Remove one status condition by type."""
        namespace, name = key.split("/", 1)
        body = {"status": {"conditions": [{"type": condition_type, "$patch": "delete"}]}}
        call(
            f"clear condition {condition_type} on {key}",
            lambda: self.core.patch_namespaced_service_status(
                name, namespace, body, _content_type=STRATEGIC_PATCH, _preload_content=False
            ),
        )

    # -- Events -------------------------------------------------------------

    def create_event(
        self, ref: ObjectRef, *, type_: str, reason: str, message: str, count: int = 1
    ) -> str:
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
            source=client.V1EventSource(component=self.component, host=self._host),
            reporting_component=self.component,
            reporting_instance=self._host,
            first_timestamp=now,
            last_timestamp=now,
            count=count,
        )
        call(
            f"create event {reason} for {ref.namespace}/{ref.name}",
            lambda: self.core.create_namespaced_event(ref.namespace, event, _preload_content=False),
        )
        return name

    def bump_event(self, namespace: str, name: str, count: int) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        body = {"count": count, "lastTimestamp": now}
        call(
            f"update event {namespace}/{name}",
            lambda: self.core.patch_namespaced_event(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
            ),
        )


class EventRecorder:
    """Records events, folding repeats of the same event into one with a count.

    Recording never raises: an event is a courtesy to the user, and failing
    to write one must not fail a reconcile. Failures are logged.
    """

    def __init__(self, gateway: KubeGateway) -> None:
        self._gateway = gateway
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    def normal(self, ref: ObjectRef, reason: str, message: str) -> None:
        self._record(ref, "Normal", reason, message)

    def warning(self, ref: ObjectRef, reason: str, message: str) -> None:
        self._record(ref, "Warning", reason, message)

    def _record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        identity = (ref.uid, type_, reason, message)
        with self._lock:
            seen = self._seen.get(identity)
        log.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "%s: %s",
            reason,
            message,
            extra={"service": f"{ref.namespace}/{ref.name}", "event": type_},
        )
        try:
            if seen is None:
                name = self._gateway.create_event(ref, type_=type_, reason=reason, message=message)
                count = 1
            else:
                name, count = seen[0], seen[1] + 1
                self._gateway.bump_event(ref.namespace, name, count)
        except Exception as err:
            log.warning(
                "could not record event %s for %s/%s: %s", reason, ref.namespace, ref.name, err
            )
            if seen is not None:
                with self._lock:
                    self._seen.pop(identity, None)
            return
        with self._lock:
            if len(self._seen) > 10000:
                self._seen.clear()
            self._seen[identity] = (name, count)


def object_ref(obj: dict[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(
        kind=obj.get("kind") or "Service",
        namespace=meta.get("namespace") or "default",
        name=meta["name"],
        uid=meta.get("uid") or "",
    )
