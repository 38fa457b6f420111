"""The provider interface: a small Protocol every load-balancer backend meets.

Contract for implementations:
- every call is idempotent: a provider reads what exists, diffs it against the
  desired state and mutates only what differs, so a call repeated after a
  crash converges without duplicates or leaks;
- `plan` answers what `ensure`/`delete` would change and mutates nothing;
- ownership marks (names, descriptions, tags) let `list_owned` find every
  resource we made, including those whose Service is gone;
- errors are lbcommon.errors types: InvalidServiceError for what the user must
  fix, TemporaryError/ThrottledError for what a retry may fix, PermanentError
  (ProviderError, ForbiddenError) for what it cannot (the controller then gives
  up until the Service changes);
- `ensure` raises CapacityError (below) when the Service must wait for another
  load balancer to go (an exhausted address pool, a requested address held by
  another Service): the controller retries it as soon as any load balancer is
  deleted or changed, rather than after its backoff;
- providers never import each other, nor the Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from lbcommon.errors import InvalidServiceError
from lbcommon.model import Change, Ingress, LoadBalancer, OwnedResource, ServiceKey


class CapacityError(InvalidServiceError):
    """`ensure` cannot serve this Service until another load balancer releases something.

    Reported like any InvalidServiceError (a Warning event naming the field);
    the controller re-queues the Service when a delete or change may have
    freed what it waits for.
    """


class Provider(Protocol):
    """What the controller needs from a load-balancer implementation."""

    @property
    def name(self) -> str:
        """Short provider name used in logs, metrics and events ("local", "gce")."""
        ...

    def restore(self, published: Mapping[ServiceKey, tuple[Ingress, ...]]) -> list[ServiceKey]:
        """Adopt what Services already publish, once, before the first `ensure`.

        Returns the Services whose published ingress could not be adopted.
        """
        ...

    def ensure(self, lb: LoadBalancer) -> tuple[Ingress, ...]:
        """Create or update everything `lb` needs; return the ingress to publish."""
        ...

    def update_backends(self, lbs: Sequence[LoadBalancer]) -> Mapping[ServiceKey, Exception]:
        """Point each load balancer at its (new) backends, batched across all of them.

        Returns the failures by Service; an empty mapping means all succeeded.
        """
        ...

    def delete(self, key: ServiceKey, uid: str) -> None:
        """Delete every resource of the Service's load balancer; absent is success."""
        ...

    def plan(self, lb: LoadBalancer) -> list[Change]:
        """What `ensure(lb)` would change; mutates nothing."""
        ...

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        """What `delete(key, uid)` would remove; mutates nothing."""
        ...

    def list_owned(self) -> list[OwnedResource]:
        """Every resource that carries our ownership marks."""
        ...

    def delete_owned(self, resource: OwnedResource) -> None:
        """Delete one resource found by `list_owned` (for `lbctl gc`)."""
        ...
