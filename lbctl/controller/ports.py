"""What the controller needs from the Kubernetes API, as small Protocols.

lbctl.controller depends on these and on lbctl.providers.base.Provider, never
on the Kubernetes client, directly or indirectly: lbctl.kube.gateway
implements them against the apiserver and lbctl.app wires it in; tests pass
small recording fakes.

Implementations raise lbcommon.errors types only: ServiceGoneError when the
Service no longer exists, PermanentError (ForbiddenError) for what the same
request will fail with again, ConflictError, ThrottledError (with the
Retry-After the API gave) and TemporaryError for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lbcommon.errors import StatusCondition
from lbcommon.informer import Obj
from lbcommon.model import Ingress, NodeInfo, ServiceKey, ServiceSpec


@dataclass(frozen=True)
class ObjectRef:
    """What an event is about."""

    kind: str
    namespace: str
    name: str
    uid: str
    api_version: str = "v1"


class ListWatch(Protocol):
    """Services and Nodes for lbcommon.informer.Informer: listed in wire form, translated once.

    The list functions' keyword arguments and streaming responses are the
    Kubernetes client's (`watch`, `resource_version`, `limit`, `_continue`,
    `_preload_content`...): the one place where the API's own shape passes
    through, untouched, to the informer. The translations turn one wire-form
    object into its domain value (KeyError, ValueError or TypeError if it is
    malformed).
    """

    def list_services(self, **kwargs: Any) -> Any: ...
    def list_nodes(self, **kwargs: Any) -> Any: ...
    def service_from_api(self, obj: Obj) -> ServiceSpec: ...
    def node_from_api(self, obj: Obj) -> NodeInfo: ...


class ServiceWriter(Protocol):
    """The writes reconcile makes to a Service; each is one patch, safe to repeat."""

    def claim(self, key: ServiceKey, *, finalizer: str, annotation: tuple[str, str]) -> None:
        """Add our finalizer and ownership annotation."""
        ...

    def release(self, key: ServiceKey, *, finalizer: str, annotation: str) -> None:
        """Remove our finalizer and ownership annotation; a vanished Service is fine."""
        ...

    def patch_ingress(self, key: ServiceKey, ingress: tuple[Ingress, ...]) -> None:
        """Replace status.loadBalancer.ingress (empty clears it)."""
        ...

    def set_condition(self, key: ServiceKey, condition: StatusCondition) -> None:
        """Set one status condition, merged by type."""
        ...

    def clear_condition(self, key: ServiceKey, condition_type: str) -> None:
        """Remove one status condition by type."""
        ...


class EventWriter(Protocol):
    """Creates and updates core/v1 Events."""

    def create_event(self, ref: ObjectRef, *, type_: str, reason: str, message: str) -> str:
        """Create an event with count 1; return its name."""
        ...

    def bump_event(self, namespace: str, name: str, count: int) -> None:
        """Set an existing event's count and last timestamp."""
        ...


class ClusterGateway(ListWatch, ServiceWriter, EventWriter, Protocol):
    """Everything the service controller needs from the apiserver."""
