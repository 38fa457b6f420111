"""Typed Compute reads for one project, region and cluster: values out.

Guarantees:
- every call goes through the `Caller` (counted, retried, mapped to lbctl
  errors) and returns `resources` values, never API objects;
- `get_*` return None for 404; lists page through everything, filtered
  server-side to names this provider may own (addresses excepted: a user's
  static IP is found by address, whatever its name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from google.cloud import compute_v1

from lbcommon.errors import ResourceMissingError
from lbctl.providers.gce import convert, names
from lbctl.providers.gce.calls import Caller
from lbctl.providers.gce.clients import Clients
from lbctl.providers.gce.convert import Links
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.resources import Address, Firewall, HealthCheck, Instance, Pool, Rule

T = TypeVar("T")
PAGE = 500


class ComputeReads:
    """The Compute reads the provider makes."""

    def __init__(self, clients: Clients, caller: Caller, scope: Scope, links: Links) -> None:
        self.clients = clients
        self._caller = caller
        self.scope = scope
        self.links = links
        self._where = {"project": scope.project, "region": scope.region}

    # -- lists ----------------------------------------------------------------

    def _pages(self, method: str, client: Any, request: Callable[[str], Any]) -> list[Any]:
        def fetch(token: str, timeout: float) -> tuple[list[Any], str]:
            page = next(
                iter(client.list(request=request(token), retry=None, timeout=timeout).pages)
            )
            return list(page.items), str(page.next_page_token)

        return self._caller.pages(method, fetch)

    def list_addresses(self) -> list[Address]:
        def request(token: str) -> compute_v1.ListAddressesRequest:
            return compute_v1.ListAddressesRequest(
                **self._where, max_results=PAGE, page_token=token
            )

        return [
            convert.address(a)
            for a in self._pages("addresses.list", self.clients.addresses, request)
        ]

    def find_addresses(self, ip: str) -> list[Address]:
        """Addresses of our region holding `ip` (a user's static IP has any name)."""

        def request(token: str) -> compute_v1.ListAddressesRequest:
            return compute_v1.ListAddressesRequest(
                **self._where, filter=f'address = "{ip}"', max_results=PAGE, page_token=token
            )

        return [
            convert.address(a)
            for a in self._pages("addresses.list", self.clients.addresses, request)
        ]

    def list_firewalls(self) -> list[Firewall]:
        where = names.firewall_filter(self.scope.cluster_id)

        def request(token: str) -> compute_v1.ListFirewallsRequest:
            return compute_v1.ListFirewallsRequest(
                project=self.scope.project, filter=where, max_results=PAGE, page_token=token
            )

        return [
            convert.firewall(f)
            for f in self._pages("firewalls.list", self.clients.firewalls, request)
        ]

    def list_health_checks(self) -> list[HealthCheck]:
        where = names.health_check_filter(self.scope.cluster_id)
        rest = self.clients.health_checks
        items = self._caller.pages(
            "httpHealthChecks.list",
            lambda token, timeout: rest.list_page(filter=where, page_token=token, timeout=timeout),
        )
        return [convert.health_check(item) for item in items]

    def list_pools(self) -> list[Pool]:
        def request(token: str) -> compute_v1.ListTargetPoolsRequest:
            return compute_v1.ListTargetPoolsRequest(
                **self._where, filter=names.pool_filter(), max_results=PAGE, page_token=token
            )

        found = self._pages("targetPools.list", self.clients.pools, request)
        return [convert.pool(p, self.links) for p in found]

    def list_rules(self) -> list[Rule]:
        def request(token: str) -> compute_v1.ListForwardingRulesRequest:
            return compute_v1.ListForwardingRulesRequest(
                **self._where, filter=names.rule_filter(), max_results=PAGE, page_token=token
            )

        found = self._pages("forwardingRules.list", self.clients.rules, request)
        return [convert.rule(r, self.links) for r in found]

    def list_instances(self) -> list[Instance]:
        """Instances of every zone of our region (one aggregated list, paged)."""
        prefix = f"zones/{self.scope.region}-"

        def fetch(token: str, timeout: float) -> tuple[list[Any], str]:
            request = compute_v1.AggregatedListInstancesRequest(
                project=self.scope.project, max_results=PAGE, page_token=token
            )
            pager = self.clients.instances.aggregated_list(
                request=request, retry=None, timeout=timeout
            )
            page = next(iter(pager.pages))
            found = [
                instance
                for zone, scoped in page.items.items()
                if zone.startswith(prefix)
                for instance in scoped.instances
            ]
            return found, str(page.next_page_token)

        messages = self._caller.pages("instances.aggregatedList", fetch)
        return [i for m in messages if (i := convert.instance(m)) is not None]

    # -- gets -----------------------------------------------------------------

    def _get(self, method: str, call: Callable[[float], T]) -> T | None:
        try:
            return self._caller.read(method, call)
        except ResourceMissingError:
            return None

    def get_address(self, name: str) -> Address | None:
        found = self._get(
            "addresses.get",
            lambda t: self.clients.addresses.get(
                project=self.scope.project,
                region=self.scope.region,
                address=name,
                retry=None,
                timeout=t,
            ),
        )
        return convert.address(found) if found is not None else None

    def get_firewall(self, name: str) -> Firewall | None:
        found = self._get(
            "firewalls.get",
            lambda t: self.clients.firewalls.get(
                project=self.scope.project, firewall=name, retry=None, timeout=t
            ),
        )
        return convert.firewall(found) if found is not None else None

    def get_health_check(self, name: str) -> HealthCheck | None:
        rest = self.clients.health_checks
        found = self._get("httpHealthChecks.get", lambda t: rest.get(name, timeout=t))
        return convert.health_check(found) if found is not None else None

    def get_pool(self, name: str) -> Pool | None:
        found = self._get(
            "targetPools.get",
            lambda t: self.clients.pools.get(
                project=self.scope.project,
                region=self.scope.region,
                target_pool=name,
                retry=None,
                timeout=t,
            ),
        )
        return convert.pool(found, self.links) if found is not None else None

    def get_rule(self, name: str) -> Rule | None:
        found = self._get(
            "forwardingRules.get",
            lambda t: self.clients.rules.get(
                project=self.scope.project,
                region=self.scope.region,
                forwarding_rule=name,
                retry=None,
                timeout=t,
            ),
        )
        return convert.rule(found, self.links) if found is not None else None
