"""The orphan collector's half: find every resource we made, delete one safely.

Guarantees:
- `list_owned` lists each kind fresh (one filtered list per kind) and keeps
  only resources whose description carries this cluster's id: another
  cluster's, upstream's or a user's resources are never listed, whatever
  their names;
- per-Service resources are listed with their Service key and UID, so
  `lbctl gc` can tell a live Service's resources from an orphan's;
- the shared node health check (and its firewall) belong to no Service:
  they are listed only when no target pool uses the check, i.e. when they
  are orphans;
- the order is safe to delete in: rules, pools, health checks, firewalls,
  addresses;
- `delete_owned` re-reads the resource and deletes it only if it still
  carries our mark; the shared check goes through the same locked release
  as in ensure; a resource still in use raises ConflictError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lbcommon.errors import ConflictError
from lbcommon.model import OwnedResource
from lbctl.providers.gce import names
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.apply import Applier
from lbctl.providers.gce.inventory import Resource, get_one
from lbctl.providers.gce.resources import Kind, Pool

ORDER = (Kind.RULE, Kind.POOL, Kind.HEALTH_CHECK, Kind.FIREWALL, Kind.ADDRESS)


def _ours(resource: Resource, cluster_id: str) -> bool:
    return names.parse_owner(resource.description).cluster_id == cluster_id


def list_owned(api: ComputeApi) -> list[OwnedResource]:
    scope = api.scope
    shared = names.shared_health_check_name(scope.cluster_id)
    shared_fw = names.health_check_firewall_name(shared, shared=True)
    listed: dict[Kind, Sequence[Resource]] = {
        Kind.RULE: api.list_rules(),
        Kind.POOL: api.list_pools(),
        Kind.HEALTH_CHECK: api.list_health_checks(),
        Kind.FIREWALL: api.list_firewalls(),
        Kind.ADDRESS: api.list_addresses(),
    }
    pools = [p for p in listed[Kind.POOL] if isinstance(p, Pool)]
    shared_used = any(shared in p.health_checks for p in pools)
    found: list[OwnedResource] = []
    for kind in ORDER:
        for resource in listed[kind]:
            if not _ours(resource, scope.cluster_id):
                continue
            if resource.name in (shared, shared_fw):
                if not shared_used:
                    found.append(OwnedResource(kind.value, resource.name, None))
                continue
            owner = names.parse_owner(resource.description)
            found.append(OwnedResource(kind.value, resource.name, owner.service, owner.uid))
    return found


def delete_owned(api: ComputeApi, applier: Applier, resource: OwnedResource) -> None:
    """Delete one resource `list_owned` found, if it is still ours."""
    kind = Kind(resource.kind)
    shared = names.shared_health_check_name(api.scope.cluster_id)
    if resource.name in (shared, names.health_check_firewall_name(shared, shared=True)):
        if not applier.release_shared(shared, service="(gc)"):
            raise ConflictError(f"{resource.name} is in use by a target pool")
        return
    current = get_one(api, kind, resource.name)
    if current is None:
        return
    if not _ours(current, api.scope.cluster_id):
        raise ConflictError(f"{kind.value} {resource.name} no longer carries our ownership mark")
    deleters: dict[Kind, Callable[[str], None]] = {
        Kind.RULE: api.delete_rule,
        Kind.POOL: api.delete_pool,
        Kind.HEALTH_CHECK: api.delete_health_check,
        Kind.FIREWALL: api.delete_firewall,
        Kind.ADDRESS: api.delete_address,
    }
    deleters[kind](resource.name)
