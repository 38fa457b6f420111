"""coordination.k8s.io/v1 Leases: the one place both Lease loops talk to the apiserver.

lbctl's leader election (lbcommon.kube.leader) and nodeproxy's heartbeats
(nodeproxy.announce) read, create, hold, renew, release, delete and watch
Leases only through `Leases`, and see a Lease only as a frozen `LeaseRecord`.

Guarantees:
- Every failure is an lbcommon.errors type with the original chained, mapped
  by lbcommon.kube.errors (403 ForbiddenError naming the verb and the Lease,
  409 ConflictError, ...). A missing Lease is not an error: `get` returns
  None and `delete` False.
- `hold` and `release` are optimistic: a PUT at the resourceVersion the
  caller read (else ConflictError), so of two racing candidates exactly one
  wins. `heartbeat` is one unconditional merge patch (create on first use).
- RBAC verbs: the election needs get, create, update; heartbeats need patch,
  create, delete, and list and watch for `lister`.
- Responses are read as JSON (`_preload_content=False`): the client's model
  deserialisation costs more than the request, and nothing here needs it.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from lbcommon.errors import (
    ConflictError,
)
from lbcommon.informer import ListFunc
from lbcommon.kube.convert import lease_from_api
from lbcommon.kube.errors import api_error, is_not_found
from lbcommon.model import LeaseRecord

__all__ = [
    "Leases",
]

MERGE_PATCH = "application/merge-patch+json"


def _micro_time(now: datetime.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _wall_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _AbsentError(Exception):
    """404: the Lease does not exist (an answer, not a failure)."""


class Leases:
    """Lease calls in one namespace; see the module docstring for the error mapping."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self._coord = client.CoordinationV1Api(api)
        self.namespace = namespace

    def _call(self, verb: str, name: str, func: Callable[[], Any]) -> Any:
        """Run one call; return the JSON body (None if empty); translate failures."""
        try:
            response = func()
            try:
                data = response.data
            finally:
                response.release_conn()
        except (ApiException, HTTPError, OSError) as err:
            if is_not_found(err):
                raise _AbsentError(name) from err
            raise api_error(err, verb=verb, resource=self._resource(name)) from err
        return json.loads(data) if data else None

    def _resource(self, name: str) -> str:
        return f"leases.coordination.k8s.io {self.namespace}/{name}"

    # -- reads --------------------------------------------------------------

    def get(self, name: str) -> LeaseRecord | None:
        """The Lease named `name`, or None if there is none."""
        try:
            body = self._call(
                "get",
                name,
                lambda: self._coord.read_namespaced_lease(
                    name, self.namespace, _preload_content=False
                ),
            )
        except _AbsentError:
            return None
        return lease_from_api(body)

    def lister(self, *, label_selector: str) -> ListFunc:
        """A list/watch function for lbcommon.informer.Informer over the labelled Leases."""
        return functools.partial(
            self._coord.list_namespaced_lease, self.namespace, label_selector=label_selector
        )

    # -- the election's writes ----------------------------------------------

    def create(self, name: str, *, holder: str, duration: float) -> LeaseRecord:
        """Create the Lease held by `holder`; ConflictError if it exists already."""
        now = _micro_time(_wall_now())
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": _seconds(duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        created = self._call(
            "create",
            name,
            lambda: self._coord.create_namespaced_lease(
                self.namespace, body, _preload_content=False
            ),
        )
        return lease_from_api(created)

    def hold(self, current: LeaseRecord, *, holder: str, duration: float) -> LeaseRecord:
        """Take (or renew) the Lease for `holder`, if it is still as `current` was read.

        Taking it from someone else (or from nobody) sets acquireTime and counts a
        transition. ConflictError if the Lease changed (or went) since `current`
        was read.
        """
        now = _micro_time(_wall_now())
        taken = current.holder != holder
        spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": _seconds(duration),
            "acquireTime": now if taken else current.acquire_time or now,
            "renewTime": now,
            "leaseTransitions": current.transitions + 1 if taken else current.transitions,
        }
        return lease_from_api(self._replace(current, spec))

    def release(self, current: LeaseRecord) -> None:
        """Clear the holder of the Lease read as `current` (ConflictError if it changed)."""
        spec = {
            "leaseDurationSeconds": 1,
            "renewTime": _micro_time(_wall_now()),
            "leaseTransitions": current.transitions,
        }
        if current.acquire_time:
            spec["acquireTime"] = current.acquire_time
        self._replace(current, spec)

    def _replace(self, current: LeaseRecord, spec: Mapping[str, Any]) -> Any:
        """PUT (verb update) at `current.version`: 409, or 404 if deleted, is a ConflictError."""
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": current.name,
                "namespace": self.namespace,
                "resourceVersion": current.version,
                "labels": dict(current.labels),
            },
            "spec": dict(spec),
        }
        try:
            return self._call(
                "update",
                current.name,
                lambda: self._coord.replace_namespaced_lease(
                    current.name, self.namespace, body, _preload_content=False
                ),
            )
        except _AbsentError as err:
            raise ConflictError(f"update {self._resource(current.name)}: deleted") from err

    # -- heartbeats ---------------------------------------------------------

    def heartbeat(
        self, name: str, *, holder: str, duration: float, labels: Mapping[str, str]
    ) -> None:
        """Renew `holder`'s own Lease with one merge patch, creating it on first use."""
        now = _micro_time(_wall_now())
        spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": _seconds(duration),
            "renewTime": now,
        }
        body: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": spec}
        try:
            self._call(
                "patch",
                name,
                lambda: self._coord.patch_namespaced_lease(
                    name, self.namespace, body, _content_type=MERGE_PATCH, _preload_content=False
                ),
            )
        except _AbsentError:
            created = {
                "metadata": {"name": name, "labels": dict(labels)},
                "spec": {**spec, "acquireTime": now},
            }
            self._call(
                "create",
                name,
                lambda: self._coord.create_namespaced_lease(
                    self.namespace, created, _preload_content=False
                ),
            )

    def delete(self, name: str) -> bool:
        """Delete the Lease; False if there was none."""
        try:
            self._call(
                "delete",
                name,
                lambda: self._coord.delete_namespaced_lease(
                    name, self.namespace, _preload_content=False
                ),
            )
        except _AbsentError:
            return False
        return True


def _seconds(duration: float) -> int:
    return max(1, round(duration))
