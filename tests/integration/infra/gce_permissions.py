"""Which IAM permissions each Compute Engine call needs, for the role test.

`PERMISSIONS` maps each REST method the gce provider may call (named as the
GCE fake's call log names it: the discovery document's `collection.method`,
which the fake derives from the HTTP verb and path, e.g.
`POST .../regions/R/forwardingRules` is `forwardingRules.insert`) to every
permission GCE checks for it. Sources: the Compute Engine audit-logging
pages of Cloud Load Balancing and VPC (one "Permissions" list per method)
and the Compute Engine IAM permissions reference:

- a mutation of a firewall also needs `compute.networks.updatePolicy` on its
  network;
- a forwarding rule that names an address (ours, or the user's reserved one)
  needs `compute.addresses.use` on it, and one whose target is a target pool
  needs `compute.targetPools.use` on the pool, at insert and at setTarget;
- a target pool's instance list needs `compute.instances.use` (insert with
  instances, addInstance, removeInstance) and its health checks
  `compute.httpHealthChecks.useReadOnly` (insert with a check,
  addHealthCheck, removeHealthCheck);
- `aggregatedList` needs the collection's `list`; waiting on an operation
  (`wait`) needs the operation collection's `get`.

`forwardingRules.delete` lists `compute.forwardingRules.pscDelete` as well:
GCE evaluates it only for Private Service Connect rules, which lbctl never
makes, so the role leaves it out.
"""

from __future__ import annotations

from collections.abc import Iterable

PERMISSIONS: dict[str, tuple[str, ...]] = {
    # addresses (regional)
    "addresses.get": ("compute.addresses.get",),
    "addresses.list": ("compute.addresses.list",),
    "addresses.aggregatedList": ("compute.addresses.list",),
    "addresses.insert": ("compute.addresses.create",),
    "addresses.delete": ("compute.addresses.delete",),
    # firewalls (global)
    "firewalls.get": ("compute.firewalls.get",),
    "firewalls.list": ("compute.firewalls.list",),
    "firewalls.insert": ("compute.firewalls.create", "compute.networks.updatePolicy"),
    "firewalls.update": ("compute.firewalls.update", "compute.networks.updatePolicy"),
    "firewalls.patch": (
        "compute.firewalls.get",
        "compute.firewalls.update",
        "compute.networks.updatePolicy",
    ),
    "firewalls.delete": ("compute.firewalls.delete", "compute.networks.updatePolicy"),
    # legacy HTTP health checks (global), what target pools take
    "httpHealthChecks.get": ("compute.httpHealthChecks.get",),
    "httpHealthChecks.list": ("compute.httpHealthChecks.list",),
    "httpHealthChecks.insert": ("compute.httpHealthChecks.create",),
    "httpHealthChecks.update": ("compute.httpHealthChecks.update",),
    "httpHealthChecks.delete": ("compute.httpHealthChecks.delete",),
    # target pools (regional)
    "targetPools.get": ("compute.targetPools.get",),
    "targetPools.getHealth": ("compute.targetPools.get",),
    "targetPools.list": ("compute.targetPools.list",),
    "targetPools.aggregatedList": ("compute.targetPools.list",),
    "targetPools.insert": (
        "compute.targetPools.create",
        "compute.instances.use",
        "compute.httpHealthChecks.useReadOnly",
    ),
    "targetPools.delete": ("compute.targetPools.delete",),
    "targetPools.addInstance": ("compute.targetPools.addInstance", "compute.instances.use"),
    "targetPools.removeInstance": ("compute.targetPools.removeInstance", "compute.instances.use"),
    "targetPools.addHealthCheck": (
        "compute.targetPools.addHealthCheck",
        "compute.httpHealthChecks.useReadOnly",
    ),
    "targetPools.removeHealthCheck": (
        "compute.targetPools.removeHealthCheck",
        "compute.httpHealthChecks.useReadOnly",
    ),
    # forwarding rules (regional)
    "forwardingRules.get": ("compute.forwardingRules.get",),
    "forwardingRules.list": ("compute.forwardingRules.list",),
    "forwardingRules.aggregatedList": ("compute.forwardingRules.list",),
    "forwardingRules.insert": (
        "compute.forwardingRules.create",
        "compute.addresses.use",
        "compute.targetPools.use",
    ),
    "forwardingRules.setTarget": ("compute.forwardingRules.setTarget", "compute.targetPools.use"),
    "forwardingRules.delete": ("compute.forwardingRules.delete",),
    # instances (zonal): read only
    "instances.get": ("compute.instances.get",),
    "instances.list": ("compute.instances.list",),
    "instances.aggregatedList": ("compute.instances.list",),
    # operations
    "regionOperations.get": ("compute.regionOperations.get",),
    "regionOperations.wait": ("compute.regionOperations.get",),
    "globalOperations.get": ("compute.globalOperations.get",),
    "globalOperations.wait": ("compute.globalOperations.get",),
    "zoneOperations.get": ("compute.zoneOperations.get",),
    "zoneOperations.wait": ("compute.zoneOperations.get",),
}


class UnmappedCallError(AssertionError):
    """A call the table above does not cover: say what GCE checks for it."""


def required_permissions(methods: Iterable[str]) -> set[str]:
    """Every permission the calls named `methods` need."""
    methods = set(methods)
    unknown = sorted(m for m in methods if m not in PERMISSIONS)
    if unknown:
        raise UnmappedCallError(
            f"the gce provider called {unknown}, which PERMISSIONS "
            f"(tests/integration/infra/gce_permissions.py) does not map: add each with the "
            f"permissions GCE checks for it"
        )
    return {permission for method in methods for permission in PERMISSIONS[method]}


def diff_message(*, required: set[str], granted: set[str], where: str) -> str:
    """A readable account of how the role differs from what the calls need."""
    lines = [f"the custom role in {where} differs from what the gce provider's calls need:"]
    missing = sorted(required - granted)
    extra = sorted(granted - required)
    if missing:
        lines.append("  missing (a call would be refused with 403):")
        lines += [f"    + {p}" for p in missing]
    if extra:
        lines.append("  granted but never needed (remove them):")
        lines += [f"    - {p}" for p in extra]
    return "\n".join(lines)
