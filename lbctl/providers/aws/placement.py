"""Where a new NLB goes and with which address: subnets and the Elastic IP, checked.

Pure functions over what the inventory read, so the choice is made, and
every problem found, before anything is created.

Guarantees:
- `choose_subnets` picks one eligible subnet per availability zone, never a
  subnet tagged for another cluster, in a stable order;
- `elastic_ip` uses the Elastic IP `loadBalancerIP` names only when it is
  this account's in this region and free (or already ours): anything else is
  an InvalidServiceError naming `spec.loadBalancerIP`. lbctl never allocates
  or releases an Elastic IP, so a user's survives any delete.
"""

from __future__ import annotations

from collections.abc import Iterable

from lbcommon.errors import InvalidServiceError, Problem
from lbctl.providers.aws import names
from lbctl.providers.aws.inventory import Shared
from lbctl.providers.aws.spec import NlbSpec
from lbctl.providers.aws.state import Subnet

LB_IP_FIELD = "spec.loadBalancerIP"


def elastic_ip(spec: NlbSpec, shared: Shared) -> str | None:
    """The allocation id `loadBalancerIP` names, if we may use it; else InvalidServiceError."""
    ip = spec.requested_ip
    if ip is None:
        return None
    address = next((a for a in shared.addresses if a.public_ip == ip), None)
    if address is None:
        reason = f"{ip} is not an Elastic IP of this account in this region"
        raise InvalidServiceError([Problem(LB_IP_FIELD, reason)])
    holder = shared.eip_holders.get(address.allocation_id)
    if holder is not None and holder[0] != spec.uid:
        reason = f"Elastic IP {ip} is in use by the load balancer of Service {holder[1]}"
        raise InvalidServiceError([Problem(LB_IP_FIELD, reason)])
    if address.association_id and holder is None:
        reason = f"Elastic IP {ip} is associated with something else ({address.association_id})"
        raise InvalidServiceError([Problem(LB_IP_FIELD, reason)])
    return address.allocation_id


def choose_subnets(subnets: Iterable[Subnet], cluster_id: str) -> list[Subnet]:
    """One subnet per availability zone, sorted by zone.

    Eligible: tagged `kubernetes.io/cluster/<cluster_id>` = owned or shared,
    or tagged `kubernetes.io/role/elb` and not tagged for another cluster.
    Within a zone: role/elb first, then our cluster tag, then the lowest id.
    """
    ours = names.cluster_tag(cluster_id)

    def eligible(s: Subnet) -> bool:
        if s.tags.get(ours) in (names.OWNED, names.SHARED):
            return True
        other = any(k.startswith(names.CLUSTER_TAG_PREFIX) and k != ours for k in s.tags)
        return names.ELB_ROLE_TAG in s.tags and not other

    def rank(s: Subnet) -> tuple[bool, bool, str]:
        return (names.ELB_ROLE_TAG not in s.tags, ours not in s.tags, s.id)

    best: dict[str, Subnet] = {}
    for subnet in sorted(filter(eligible, subnets), key=rank):
        best.setdefault(subnet.zone, subnet)
    return [best[zone] for zone in sorted(best)]
