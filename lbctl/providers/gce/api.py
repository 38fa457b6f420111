"""Typed Compute calls for one project, region and cluster: reads plus mutations.

Guarantees:
- every mutation goes through the `Caller`: counted, retried with one
  requestId (so GCE applies it at most once), waited on until its operation
  is DONE, failures mapped to lbctl errors;
- `delete_*` treat 404 as success (the resource is gone either way);
- firewalls are changed with update (PUT), which can shrink lists; a PATCH
  cannot clear one.
"""

from __future__ import annotations

from collections.abc import Callable

from google.cloud import compute_v1

from lbcommon.errors import ResourceMissingError
from lbctl.providers.gce import convert
from lbctl.providers.gce.names import Ref
from lbctl.providers.gce.reads import ComputeReads
from lbctl.providers.gce.resources import Address, Firewall, HealthCheck, Kind, Pool, Rule


class ComputeApi(ComputeReads):
    """The Compute calls the provider makes."""

    # -- mutations ------------------------------------------------------------

    def _mutate(self, method: str, call: Callable[[str, float], compute_v1.Operation]) -> None:
        self._caller.mutate(method, call)

    def _delete(self, method: str, call: Callable[[str, float], compute_v1.Operation]) -> None:
        try:
            self._caller.mutate(method, call)
        except ResourceMissingError:
            return

    def insert_address(self, value: Address) -> None:
        body = convert.address_message(value)
        self._mutate(
            "addresses.insert",
            lambda rid, t: self.clients.addresses.insert_unary(
                request=compute_v1.InsertAddressRequest(
                    **self._where, address_resource=body, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def delete_address(self, name: str) -> None:
        self._delete(
            "addresses.delete",
            lambda rid, t: self.clients.addresses.delete_unary(
                request=compute_v1.DeleteAddressRequest(
                    **self._where, address=name, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def insert_firewall(self, value: Firewall) -> None:
        body = convert.firewall_message(value, self.links)
        self._mutate(
            "firewalls.insert",
            lambda rid, t: self.clients.firewalls.insert_unary(
                request=compute_v1.InsertFirewallRequest(
                    project=self.scope.project, firewall_resource=body, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def update_firewall(self, value: Firewall) -> None:
        """PUT: replaces every field, so lists can shrink (a PATCH cannot clear one)."""
        body = convert.firewall_message(value, self.links)
        self._mutate(
            "firewalls.update",
            lambda rid, t: self.clients.firewalls.update_unary(
                request=compute_v1.UpdateFirewallRequest(
                    project=self.scope.project,
                    firewall=value.name,
                    firewall_resource=body,
                    request_id=rid,
                ),
                retry=None,
                timeout=t,
            ),
        )

    def delete_firewall(self, name: str) -> None:
        self._delete(
            "firewalls.delete",
            lambda rid, t: self.clients.firewalls.delete_unary(
                request=compute_v1.DeleteFirewallRequest(
                    project=self.scope.project, firewall=name, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def insert_health_check(self, value: HealthCheck) -> None:
        rest, body = self.clients.health_checks, convert.health_check_body(value)
        self._mutate(
            "httpHealthChecks.insert",
            lambda rid, t: rest.insert(body, request_id=rid, timeout=t),
        )

    def update_health_check(self, value: HealthCheck) -> None:
        rest, body = self.clients.health_checks, convert.health_check_body(value)
        self._mutate(
            "httpHealthChecks.update",
            lambda rid, t: rest.update(value.name, body, request_id=rid, timeout=t),
        )

    def delete_health_check(self, name: str) -> None:
        rest = self.clients.health_checks
        self._delete(
            "httpHealthChecks.delete", lambda rid, t: rest.delete(name, request_id=rid, timeout=t)
        )

    def insert_pool(self, value: Pool) -> None:
        body = convert.pool_message(value, self.links)
        self._mutate(
            "targetPools.insert",
            lambda rid, t: self.clients.pools.insert_unary(
                request=compute_v1.InsertTargetPoolRequest(
                    **self._where, target_pool_resource=body, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def delete_pool(self, name: str) -> None:
        self._delete(
            "targetPools.delete",
            lambda rid, t: self.clients.pools.delete_unary(
                request=compute_v1.DeleteTargetPoolRequest(
                    **self._where, target_pool=name, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def add_instances(self, pool: str, refs: tuple[Ref, ...]) -> None:
        body = compute_v1.TargetPoolsAddInstanceRequest(
            instances=[compute_v1.InstanceReference(instance=self.links.instance(r)) for r in refs]
        )
        self._mutate(
            "targetPools.addInstance",
            lambda rid, t: self.clients.pools.add_instance_unary(
                request=compute_v1.AddInstanceTargetPoolRequest(
                    **self._where,
                    target_pool=pool,
                    target_pools_add_instance_request_resource=body,
                    request_id=rid,
                ),
                retry=None,
                timeout=t,
            ),
        )

    def remove_instances(self, pool: str, refs: tuple[Ref, ...]) -> None:
        body = compute_v1.TargetPoolsRemoveInstanceRequest(
            instances=[compute_v1.InstanceReference(instance=self.links.instance(r)) for r in refs]
        )
        self._mutate(
            "targetPools.removeInstance",
            lambda rid, t: self.clients.pools.remove_instance_unary(
                request=compute_v1.RemoveInstanceTargetPoolRequest(
                    **self._where,
                    target_pool=pool,
                    target_pools_remove_instance_request_resource=body,
                    request_id=rid,
                ),
                retry=None,
                timeout=t,
            ),
        )

    def add_health_check(self, pool: str, check: str) -> None:
        link = compute_v1.HealthCheckReference(
            health_check=self.links.url(Kind.HEALTH_CHECK, check)
        )
        body = compute_v1.TargetPoolsAddHealthCheckRequest(health_checks=[link])
        self._mutate(
            "targetPools.addHealthCheck",
            lambda rid, t: self.clients.pools.add_health_check_unary(
                request=compute_v1.AddHealthCheckTargetPoolRequest(
                    **self._where,
                    target_pool=pool,
                    target_pools_add_health_check_request_resource=body,
                    request_id=rid,
                ),
                retry=None,
                timeout=t,
            ),
        )

    def remove_health_check(self, pool: str, check: str) -> None:
        link = compute_v1.HealthCheckReference(
            health_check=self.links.url(Kind.HEALTH_CHECK, check)
        )
        body = compute_v1.TargetPoolsRemoveHealthCheckRequest(health_checks=[link])
        self._mutate(
            "targetPools.removeHealthCheck",
            lambda rid, t: self.clients.pools.remove_health_check_unary(
                request=compute_v1.RemoveHealthCheckTargetPoolRequest(
                    **self._where,
                    target_pool=pool,
                    target_pools_remove_health_check_request_resource=body,
                    request_id=rid,
                ),
                retry=None,
                timeout=t,
            ),
        )

    def insert_rule(self, value: Rule) -> None:
        body = convert.rule_message(value, self.links)
        self._mutate(
            "forwardingRules.insert",
            lambda rid, t: self.clients.rules.insert_unary(
                request=compute_v1.InsertForwardingRuleRequest(
                    **self._where, forwarding_rule_resource=body, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )

    def set_target(self, rule: str, pool: str) -> None:
        body = compute_v1.TargetReference(target=self.links.url(Kind.POOL, pool))
        self._mutate(
            "forwardingRules.setTarget",
            lambda rid, t: self.clients.rules.set_target_unary(
                request=compute_v1.SetTargetForwardingRuleRequest(
                    **self._where,
                    forwarding_rule=rule,
                    target_reference_resource=body,
                    request_id=rid,
                ),
                retry=None,
                timeout=t,
            ),
        )

    def delete_rule(self, name: str) -> None:
        self._delete(
            "forwardingRules.delete",
            lambda rid, t: self.clients.rules.delete_unary(
                request=compute_v1.DeleteForwardingRuleRequest(
                    **self._where, forwarding_rule=name, request_id=rid
                ),
                retry=None,
                timeout=t,
            ),
        )
