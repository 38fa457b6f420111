"""The `local` provider: addresses from IP pools, traffic carried by nodeproxy.

The provider's only resource is an address allocation. nodeproxy, running on
the nodes, watches the same Services and serves each ingress IP it finds in
its pools, so `ensure` is an allocation and `update_backends` has nothing to
do: nodeproxy follows the Nodes itself.

Allocations live in memory and are rebuilt from Service status by `restore`
before the first `ensure`, so a controller restart never moves an IP.

An exhausted pool, or a requested address another Service holds, is a
CapacityError: the controller retries the Service as soon as an address may
have been released, not after its backoff.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Mapping, Sequence

from lbcommon.desired import TCP_AND_UDP, protocol_problems
from lbcommon.errors import InvalidServiceError, Problem
from lbcommon.model import (
    Action,
    Change,
    Ingress,
    IPMode,
    LoadBalancer,
    OwnedResource,
    ServiceKey,
)
from lbcommon.pools import IPFamily, Pool
from lbctl.ipam import AddressInUse, AllocationError, IPAllocator, PoolExhausted
from lbctl.providers.base import CapacityError

log = logging.getLogger(__name__)

KIND = "address"


class LocalProvider:
    """IP pools for bare clusters; the data plane is nodeproxy."""

    name = "local"

    def __init__(self, pools: Sequence[Pool]) -> None:
        self._allocator = IPAllocator(pools)
        self._lock = threading.Lock()

    def restore(self, published: Mapping[ServiceKey, tuple[Ingress, ...]]) -> list[ServiceKey]:
        """Re-adopt the addresses Services already show; return keys that lost theirs."""
        lost: list[ServiceKey] = []
        with self._lock:
            for key, ingress in sorted(published.items()):
                for entry in ingress:
                    if entry.ip and not self._allocator.restore(key, entry.ip):
                        lost.append(key)
        return lost

    def ensure(self, lb: LoadBalancer) -> tuple[Ingress, ...]:
        _check_protocols(lb)
        family = IPFamily.IPV6 if lb.ip_family == "IPv6" else IPFamily.IPV4
        with self._lock:
            try:
                address = self._allocator.allocate(lb.key, requested=lb.requested_ip, family=family)
            except (PoolExhausted, AddressInUse) as err:
                # Another Service's delete frees it: the controller retries then.
                raise CapacityError([Problem(err.field, err.reason)]) from err
            except AllocationError as err:
                raise InvalidServiceError([Problem(err.field, err.reason)]) from err
        # nodeproxy delivers packets addressed to the IP unchanged (DESIGN.md).
        return (Ingress(ip=str(address), ip_mode=IPMode.VIP),)

    def update_backends(self, lbs: Sequence[LoadBalancer]) -> Mapping[ServiceKey, Exception]:
        return {}

    def delete(self, key: ServiceKey, uid: str) -> None:
        with self._lock:
            released = self._allocator.release(key)
        if released is not None:
            log.info("released %s", released, extra={"service": key, "provider": self.name})

    def plan(self, lb: LoadBalancer) -> list[Change]:
        _check_protocols(lb)
        with self._lock:
            current = self._allocator.address_of(lb.key)
            holder = self._allocator.holder(lb.requested_ip) if lb.requested_ip else None
        if lb.requested_ip:
            wanted = ipaddress.ip_address(lb.requested_ip)
            if current == wanted:
                return []
            if holder not in (None, lb.key):
                return [Change(Action.CREATE, KIND, lb.requested_ip, f"blocked: held by {holder}")]
            return [Change(Action.CREATE, KIND, lb.requested_ip, "requested IP")]
        if current is not None:
            return []
        return [Change(Action.CREATE, KIND, "(next free)", "from the pools")]

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        with self._lock:
            current = self._allocator.address_of(key)
        return [] if current is None else [Change(Action.DELETE, KIND, str(current))]

    def list_owned(self) -> list[OwnedResource]:
        with self._lock:
            return [
                OwnedResource(KIND, str(ip), ServiceKey(key))
                for key, ip in sorted(self._allocator.in_use().items())
            ]

    def delete_owned(self, resource: OwnedResource) -> None:
        if resource.service is not None:
            self.delete(resource.service, resource.uid or "")


def _check_protocols(lb: LoadBalancer) -> None:
    """nodeproxy, this provider's data plane, carries TCP and UDP only."""
    problems = protocol_problems(lb, TCP_AND_UDP, by="nodeproxy, the local provider's data plane")
    if problems:
        raise InvalidServiceError(problems)
