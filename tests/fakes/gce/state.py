"""The fake's resource store: tables, scopes, quotas, IP allocation, listing.

Guarantees:
- one re-entrant lock (`Store.lock`) guards every table; the server holds it
  for the whole of a request, so each API call is atomic, as in GCE;
- resources are stored as the JSON GCE returns (camelCase, full-URL
  references) and handed out as deep copies, with derived fields computed at
  read time so they can never go stale: an address's `status`
  (RESERVED/IN_USE) and `users` come from the forwarding rules that use it;
- external IPs are allocated only from the configured range, which must lie
  inside 198.18.0.0/15 (the benchmarking range this project keeps to);
- quotas are per metric and scope and default to unlimited.
"""

from __future__ import annotations

import copy
import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.gce import errors
from tests.fakes.gce.filters import compile_filter
from tests.fakes.gce.links import Links, Ref, region_of_zone
from tests.fakes.gce.operations import Operations
from tests.fakes.gce.stamps import IdSource, timestamp

JSON = dict[str, Any]

ALLOWED_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
DEFAULT_ADDRESS_RANGE = ("198.18.0.200", "198.18.0.250")


@dataclass(frozen=True)
class KindSpec:
    """One resource collection: its JSON kind, its scope type and its quota metric."""

    collection: str
    kind: str
    scope_type: str  # "global" | "region" | "zone"
    quota_metric: str | None


KINDS: dict[str, KindSpec] = {
    spec.collection: spec
    for spec in (
        KindSpec("addresses", "compute#address", "region", "STATIC_ADDRESSES"),
        KindSpec("firewalls", "compute#firewall", "global", "FIREWALLS"),
        KindSpec("httpHealthChecks", "compute#httpHealthCheck", "global", "HEALTH_CHECKS"),
        KindSpec("targetPools", "compute#targetPool", "region", "TARGET_POOLS"),
        KindSpec("forwardingRules", "compute#forwardingRule", "region", "FORWARDING_RULES"),
        KindSpec("instances", "compute#instance", "zone", None),
    )
}
QUOTA_METRICS = {s.quota_metric: s for s in KINDS.values() if s.quota_metric}
QUOTA_METRICS_EXTRA = ("IN_USE_ADDRESSES",)


@dataclass(frozen=True)
class Request:
    """One routed API call, as handed to a resource handler."""

    method: str  # e.g. "targetPools.addInstance"
    project: str
    scope: str  # "global", "regions/<r>" or "zones/<z>"
    name: str | None  # the resource named in the path, if any
    body: JSON
    query: Mapping[str, str]

    def ref(self, collection: str, name: str | None = None) -> Ref:
        return Ref(self.project, self.scope, collection, name or self.name or "")


class Store:
    """All resources of one fake project."""

    def __init__(
        self,
        *,
        project: str,
        regions: tuple[str, ...],
        zones: tuple[str, ...],
        links: Links,
        address_range: tuple[str, str] = DEFAULT_ADDRESS_RANGE,
    ) -> None:
        self.lock = threading.RLock()
        self.project = project
        self.default_region = regions[0]
        self.regions = set(regions)
        self.zones = set(zones)
        self.links = links
        self.ids = IdSource()
        self.ops = Operations(links, self.ids)
        self.tables: dict[str, dict[tuple[str, str], JSON]] = {c: {} for c in KINDS}
        self.networks = {"default"}
        self.quotas: dict[tuple[str, str], int] = {}
        self.quota_errors_in_operation = False
        self.max_instances_per_request = 1000
        self.instance_health: dict[str, str] = {}
        first, last = (ipaddress.IPv4Address(a) for a in address_range)
        if not (first in ALLOWED_RANGE and last in ALLOWED_RANGE and first <= last):
            raise ValueError(f"address range {address_range} must lie inside {ALLOWED_RANGE}")
        self.address_range = (first, last)

    # -- scopes -----------------------------------------------------------------

    def check_scope(self, project: str, scope: str) -> None:
        """404 for another project, 400 for an unknown region or zone (as GCE)."""
        if project != self.project:
            raise errors.not_found(f"projects/{project}")
        kind, _, where = scope.partition("/")
        if kind == "regions" and where not in self.regions:
            raise errors.invalid("region", where, "Unknown region.")
        if kind == "zones" and where not in self.zones:
            raise errors.invalid("zone", where, "Unknown zone.")

    # -- tables -----------------------------------------------------------------

    def find(self, ref: Ref) -> JSON | None:
        """The stored (mutable) resource, by name or numeric id; None when absent."""
        if ref.project != self.project:
            return None
        table = self.tables[ref.collection]
        found = table.get((ref.scope, ref.name))
        if found is None and ref.name.isdigit():
            found = next(
                (r for (s, _), r in table.items() if s == ref.scope and r["id"] == ref.name),
                None,
            )
        return found

    def require(self, ref: Ref) -> JSON:
        found = self.find(ref)
        if found is None:
            raise errors.not_found(ref.path)
        return found

    def put(self, ref: Ref, resource: JSON) -> None:
        self.tables[ref.collection][(ref.scope, ref.name)] = resource

    def remove(self, ref: Ref) -> JSON:
        resource = self.require(ref)
        del self.tables[ref.collection][(ref.scope, resource["name"])]
        return resource

    def scoped(self, collection: str, scope: str | None = None) -> list[JSON]:
        """Stored resources of `collection`, in `scope` or everywhere, sorted by name."""
        return sorted(
            (r for (s, _), r in self.tables[collection].items() if scope in (None, s)),
            key=lambda r: str(r["name"]),
        )

    def new_resource(self, ref: Ref) -> JSON:
        """Server-assigned fields of a new resource: kind, id, timestamps, links, scope."""
        spec = KINDS[ref.collection]
        resource: JSON = {
            "kind": spec.kind,
            "id": self.ids.next(),
            "creationTimestamp": timestamp(),
            "name": ref.name,
            "selfLink": self.links.url(ref),
        }
        if ref.scope.startswith("regions/"):
            resource["region"] = self.links.scope_url(ref.project, ref.scope)
        elif ref.scope.startswith("zones/"):
            resource["zone"] = self.links.scope_url(ref.project, ref.scope)
        return resource

    def operation(self, req: Request, target: JSON) -> JSON:
        """The operation a mutation of `target` returns (DONE unless polls are configured)."""
        return self.ops.start(
            project=req.project,
            scope=req.scope,
            method=req.method,
            target_link=str(target["selfLink"]),
            target_id=str(target.get("id", "")),
            request_id=req.query.get("requestId") or None,
        )

    def render(self, collection: str, resource: JSON) -> JSON:
        """A copy for the wire, with derived fields filled in."""
        out = copy.deepcopy(resource)
        if collection == "addresses":
            users = self.address_users(resource)
            out["status"] = "IN_USE" if users else "RESERVED"
            if users:
                out["users"] = users
        return out

    def address_users(self, address: JSON) -> list[str]:
        scope = "regions/" + str(address["region"]).rsplit("/", 1)[1]
        return [
            str(rule["selfLink"])
            for rule in self.scoped("forwardingRules", scope)
            if rule.get("IPAddress") == address["address"]
        ]

    # -- listing ----------------------------------------------------------------

    def list_response(self, collection: str, req: Request) -> JSON:
        items = self._filtered(collection, req.scope, req.query)
        page, token = self._page(items, req.query)
        body: JSON = {
            "kind": KINDS[collection].kind + "List",
            "id": f"projects/{req.project}/{req.scope}/{collection}",
            "selfLink": self.links.collection_url(req.project, req.scope, collection),
        }
        if page:
            body["items"] = page
        if token:
            body["nextPageToken"] = token
        return body

    def aggregated_response(self, collection: str, req: Request) -> JSON:
        spec = KINDS[collection]
        if spec.scope_type == "region":
            scopes = sorted(f"regions/{r}" for r in self.regions)
        else:
            scopes = sorted(f"zones/{z}" for z in self.zones)
        items: JSON = {}
        for scope in scopes:
            found = self._filtered(collection, scope, req.query)
            if found:
                items[scope] = {collection: found}
            else:
                items[scope] = {
                    "warning": {
                        "code": "NO_RESULTS_ON_PAGE",
                        "message": f"There are no results for scope '{scope}' on this page.",
                        "data": [{"key": "scope", "value": scope}],
                    }
                }
        return {
            "kind": spec.kind + "AggregatedList",
            "id": f"projects/{req.project}/aggregated/{collection}",
            "items": items,
            "selfLink": f"{self.links.project_url(req.project)}/aggregated/{collection}",
        }

    def _filtered(self, collection: str, scope: str, query: Mapping[str, str]) -> list[JSON]:
        predicate = compile_filter(query.get("filter", ""))
        rendered = [self.render(collection, r) for r in self.scoped(collection, scope)]
        order = query.get("orderBy", "")
        if order == "creationTimestamp desc":
            rendered.reverse()
        elif order not in ("", "name"):
            raise errors.unsupported(f"orderBy '{order}'")
        return [r for r in rendered if predicate(r)]

    @staticmethod
    def _page(items: list[JSON], query: Mapping[str, str]) -> tuple[list[JSON], str | None]:
        raw = query.get("maxResults", "500")
        if not raw.isdigit() or int(raw) > 500:
            raise errors.invalid("maxResults", raw, "Must be less than or equal to 500")
        size = int(raw) or 500
        token = query.get("pageToken", "")
        start = int(token[1:]) if token.startswith("p") and token[1:].isdigit() else 0
        if token and not start:
            raise errors.invalid("pageToken", token, "Invalid page token.")
        end = start + size
        return items[start:end], (f"p{end}" if end < len(items) else None)

    # -- quotas -----------------------------------------------------------------

    def set_quota(self, metric: str, limit: int | None, *, region: str | None = None) -> None:
        spec = QUOTA_METRICS.get(metric)
        if spec is None and metric not in QUOTA_METRICS_EXTRA:
            raise ValueError(f"unknown quota metric {metric!r}")
        scope = "global" if spec and spec.scope_type == "global" else f"regions/{region}"
        if scope == "regions/None":
            raise ValueError(f"quota {metric} is regional: pass region=")
        with self.lock:
            if limit is None:
                self.quotas.pop((metric, scope), None)
            else:
                self.quotas[(metric, scope)] = limit

    def check_quota(self, collection: str, scope: str) -> None:
        """403 quotaExceeded if one more `collection` resource in `scope` exceeds the quota."""
        metric = KINDS[collection].quota_metric
        if metric is None:
            return
        limit = self.quotas.get((metric, scope))
        if limit is not None and len(self.scoped(collection, scope)) >= limit:
            raise errors.quota_exceeded(metric, limit, scope)

    def check_in_use_quota(self, scope: str, new_ip: str) -> None:
        limit = self.quotas.get(("IN_USE_ADDRESSES", scope))
        in_use = {str(r.get("IPAddress")) for r in self.scoped("forwardingRules", scope)}
        if limit is not None and new_ip not in in_use and len(in_use) >= limit:
            raise errors.quota_exceeded("IN_USE_ADDRESSES", limit, scope)

    # -- external IPs -----------------------------------------------------------

    def ips_taken(self) -> set[str]:
        taken = {str(a["address"]) for a in self.scoped("addresses")}
        taken |= {str(r["IPAddress"]) for r in self.scoped("forwardingRules")}
        return taken

    def owns_ip(self, ip: ipaddress.IPv4Address) -> bool:
        first, last = self.address_range
        return first <= ip <= last

    def allocate_ip(self, scope: str) -> str:
        first, last = self.address_range
        taken = self.ips_taken()
        for number in range(int(first), int(last) + 1):
            candidate = str(ipaddress.IPv4Address(number))
            if candidate not in taken:
                return candidate
        size = int(last) - int(first) + 1
        raise errors.quota_exceeded("IN_USE_ADDRESSES", size, scope)

    # -- instances and snapshots ------------------------------------------------

    def zones_of_region(self, region: str) -> list[str]:
        return sorted(z for z in self.zones if region_of_zone(z) == region)

    def snapshot(self) -> dict[str, dict[str, JSON]]:
        """Every resource by collection, keyed by name (`<zone>/<name>` for instances,
        `<region>/<name>` for regional resources outside the first region)."""
        with self.lock:
            result: dict[str, dict[str, JSON]] = {}
            for collection, table in self.tables.items():
                rendered: dict[str, JSON] = {}
                for (scope, name), resource in sorted(table.items()):
                    rendered[self._snapshot_key(scope, name)] = self.render(collection, resource)
                result[collection] = rendered
            return result

    def _snapshot_key(self, scope: str, name: str) -> str:
        if scope in ("global", f"regions/{self.default_region}"):
            return name
        return f"{scope.split('/', 1)[1]}/{name}"
