"""Names, tags and ids of the AWS resources lbctl makes: pure functions only.

Guarantees:
- every name is a deterministic function of the Service UID, so a repeated
  create after a crash finds (or collides with) the first attempt instead of
  making a second resource;
- the load balancer is named as upstream names it (`"a"` + UID without
  dashes, cut to 32 characters: lbctl.providers.common.names.lb_name, the
  name every provider shares), so a cluster can move between controllers;
- ownership is decided by tags alone (`kubernetes.io/cluster/<id>=owned` plus
  `lbctl.io/service-uid`); a resource with one of our names but without both
  tags is never touched. The one cluster-level resource, the backend security
  group, carries the cluster tag and `lbctl.io/role=backend` instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lbcommon.model import ServiceKey
from lbctl.providers.common.names import SERVICE_NAME_KEY, SERVICE_UID_KEY, lb_name, uid_hex

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
SERVICE_NAME_TAG = SERVICE_NAME_KEY
SERVICE_UID_TAG = SERVICE_UID_KEY
#: on the load balancer: the Elastic IP allocation it was created with
EIP_TAG = "lbctl.io/eip-allocation"
ELB_ROLE_TAG = "kubernetes.io/role/elb"
#: on the one cluster-wide security group attached to every NLB (value "backend")
ROLE_TAG = "lbctl.io/role"
BACKEND = "backend"
OWNED = "owned"
SHARED = "shared"

#: names that may be ours; tags decide
LB_NAME_RE = re.compile(r"^a[0-9a-f]{31}$")
TG_NAME_RE = re.compile(r"^a[0-9a-f]{20}-(t|u|tu)[0-9]{1,5}$")

_TG_PROTOCOL_CODES = {"TCP": "t", "UDP": "u", "TCP_UDP": "tu"}
_INSTANCE_RE = re.compile(r"^i-[0-9a-f]{8,17}$")


def cluster_tag(cluster_id: str) -> str:
    return CLUSTER_TAG_PREFIX + cluster_id


def tg_name(uid: str, protocol: str, port: int) -> str:
    """One target group per (protocol, frontend port); at most 29 characters."""
    return f"a{uid_hex(uid)[:20]}-{_TG_PROTOCOL_CODES[protocol]}{port}"


def sg_name(uid: str) -> str:
    """The load balancer's security group, named like upstream's `k8s-elb-<lb>`."""
    return "k8s-elb-" + lb_name(uid)


def backend_sg_name(cluster_id: str) -> str:
    """The cluster's shared backend group: node groups admit it, not each NLB."""
    return f"k8s-elb-backend-{cluster_id}"


def backend_tags(cluster_id: str) -> dict[str, str]:
    return {cluster_tag(cluster_id): OWNED, ROLE_TAG: BACKEND}


def ownership_tags(cluster_id: str, key: ServiceKey, uid: str) -> dict[str, str]:
    return {cluster_tag(cluster_id): OWNED, SERVICE_NAME_TAG: key, SERVICE_UID_TAG: uid}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """AWS's `[{"Key": k, "Value": v}]` form, in a stable order."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tag_dict(tags: object) -> dict[str, str]:
    """The inverse of `tag_list`, tolerant of a missing list."""
    if not isinstance(tags, list):
        return {}
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


@dataclass(frozen=True)
class Owner:
    """The Service a resource belongs to, read from its tags."""

    key: ServiceKey | None
    uid: str


def owner_from_tags(tags: Mapping[str, str], cluster_id: str) -> Owner | None:
    """Our ownership marks, or None when the resource is not ours."""
    if tags.get(cluster_tag(cluster_id)) != OWNED or not tags.get(SERVICE_UID_TAG):
        return None
    name = tags.get(SERVICE_NAME_TAG)
    return Owner(key=ServiceKey(name) if name else None, uid=tags[SERVICE_UID_TAG])


def instance_id(provider_id: str | None) -> str | None:
    """`i-0abc...` from a Node's `aws:///us-east-1a/i-0abc...` providerID."""
    if not provider_id or not provider_id.startswith("aws://"):
        return None
    candidate = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return candidate if _INSTANCE_RE.match(candidate) else None
