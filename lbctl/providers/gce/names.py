"""Names, ownership marks and resource references of the gce provider: pure, no I/O.

Guarantees:
- every name is a deterministic function of the Service UID (or of the
  cluster id, for the shared node health check), exactly as upstream
  cloud-provider-gcp names them (the load balancer's own name is the one
  every provider shares, lbctl.providers.common.names.lb_name), so a retry
  after a crash finds and adopts what an earlier attempt made, and a
  cluster can move between the two controllers;
- ownership is written into each resource's description as JSON: the
  upstream key `kubernetes.io/service-name` plus our cluster id and the
  Service UID; `parse_owner` never raises on foreign descriptions;
- references are compared as parsed `Ref`s (project, scope, collection,
  name), never as URL strings, since GCE answers with whatever host and API
  version it likes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lbcommon.model import ServiceKey
from lbctl.providers.common.names import SERVICE_NAME_KEY, SERVICE_UID_KEY

SERVICE_IP_KEY = "kubernetes.io/service-ip"
CLUSTER_ID_KEY = "lbctl.io/cluster-id"

#: GCE resource names: RFC 1035, 1-63 characters.
NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
#: what a cluster id may be so that `k8s-<id>-node-http-hc` is a valid name
CLUSTER_ID_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,44}[a-z0-9])?")
#: the second target-pool name of a load balancer, used while affinity changes
ALT_POOL_SUFFIX = "-alt"
#: regex (GCE list filters, RE2 full match) of load-balancer names
LB_NAME_PATTERN = "a[a-z0-9]{1,31}"


@dataclass(frozen=True)
class Scope:
    """Where this provider builds: one project, region and network, one cluster."""

    project: str
    region: str
    network: str
    cluster_id: str


def firewall_name(name: str) -> str:
    return f"k8s-fw-{name}"


def alt_pool_name(name: str) -> str:
    return name + ALT_POOL_SUFFIX


def pool_names(name: str) -> tuple[str, str]:
    """Both target pools a load balancer may own: the usual one first."""
    return name, alt_pool_name(name)


def shared_health_check_name(cluster_id: str) -> str:
    return f"k8s-{cluster_id}-node"


def health_check_firewall_name(health_check: str, *, shared: bool) -> str:
    """`k8s-<cid>-node-http-hc` for the shared check, `k8s-<lb>-http-hc` otherwise."""
    return f"{health_check}-http-hc" if shared else f"k8s-{health_check}-http-hc"


def valid_cluster_id(cluster_id: str) -> bool:
    return bool(CLUSTER_ID_RE.fullmatch(cluster_id))


def firewall_filter(cluster_id: str) -> str:
    """List filter for every firewall we may own in this cluster."""
    # cluster ids and our suffixes hold only [a-z0-9-]: nothing to escape in a regex
    shared = health_check_firewall_name(shared_health_check_name(cluster_id), shared=True)
    return f'name eq "(k8s-fw-{LB_NAME_PATTERN}|k8s-{LB_NAME_PATTERN}-http-hc|{shared})"'


def health_check_filter(cluster_id: str) -> str:
    return f'name eq "({LB_NAME_PATTERN}|{shared_health_check_name(cluster_id)})"'


def pool_filter() -> str:
    return f'name eq "{LB_NAME_PATTERN}({ALT_POOL_SUFFIX})?"'


def rule_filter() -> str:
    return f'name eq "{LB_NAME_PATTERN}"'


# -- ownership ---------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """What a description says about who made a resource."""

    service: ServiceKey | None = None
    uid: str | None = None
    cluster_id: str | None = None
    ip: str | None = None


def describe(
    *,
    cluster_id: str,
    service: ServiceKey | None = None,
    uid: str | None = None,
    ip: str | None = None,
) -> str:
    """The description JSON; upstream's key first so its parser stays happy."""
    fields: dict[str, str] = {}
    if service is not None:
        fields[SERVICE_NAME_KEY] = service
    if ip is not None:
        fields[SERVICE_IP_KEY] = ip
    fields[CLUSTER_ID_KEY] = cluster_id
    if uid is not None:
        fields[SERVICE_UID_KEY] = uid
    return json.dumps(fields, separators=(",", ":"))


def parse_owner(description: str) -> Owner:
    """Read an ownership description; anything unreadable is an empty Owner."""
    try:
        data: Any = json.loads(description) if description else None
    except ValueError:
        return Owner()
    if not isinstance(data, dict):
        return Owner()

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    service = text(SERVICE_NAME_KEY)
    return Owner(
        service=ServiceKey(service) if service else None,
        uid=text(SERVICE_UID_KEY),
        cluster_id=text(CLUSTER_ID_KEY),
        ip=text(SERVICE_IP_KEY),
    )


# -- references --------------------------------------------------------------

_URL = re.compile(r"^(?:https?://[^/]+)?/?(?:compute/(?:v1|beta|alpha)/)?(?P<rest>.*)$")


@dataclass(frozen=True, order=True)
class Ref:
    """A parsed resource reference: the only form references are compared in."""

    project: str
    scope: str  # "global", "regions/<r>" or "zones/<z>"
    collection: str
    name: str

    @classmethod
    def parse(cls, url: str) -> Ref | None:
        """A full URL or project-relative path; None when it is neither."""
        match = _URL.match(url or "")
        parts = [p for p in (match.group("rest") if match else "").split("/") if p]
        if len(parts) < 5 or parts[0] != "projects":
            return None
        project, rest = parts[1], parts[2:]
        if len(rest) == 3 and rest[0] == "global":
            return cls(project, "global", rest[1], rest[2])
        if len(rest) == 4 and rest[0] in ("regions", "zones"):
            return cls(project, f"{rest[0]}/{rest[1]}", rest[2], rest[3])
        return None

    @property
    def zone(self) -> str | None:
        return self.scope.split("/", 1)[1] if self.scope.startswith("zones/") else None

    def path(self) -> str:
        return f"projects/{self.project}/{self.scope}/{self.collection}/{self.name}"

    def url(self, base: str) -> str:
        """`base` is the API root, e.g. `https://compute.googleapis.com/compute/v1`."""
        return f"{base.rstrip('/')}/{self.path()}"


def region_of_zone(zone: str) -> str:
    """`us-central1-a` -> `us-central1`."""
    return zone.rsplit("-", 1)[0]


def instance_ref(provider_id: str | None) -> Ref | None:
    """`gce://<project>/<zone>/<instance>` -> the instance's Ref; None if not GCE."""
    if not provider_id or not provider_id.startswith("gce://"):
        return None
    parts = provider_id[len("gce://") :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    project, zone, name = parts
    return Ref(project, f"zones/{zone}", "instances", name)
