"""What exists in AWS, as frozen values translated once from API responses.

`Resources` gathers everything one Service owns; the translation functions
(`*_from_api`) are the only code here that sees raw boto3 dictionaries.
Fields that need an extra call per resource (listeners, stickiness, targets,
cross-zone) are None when unknown, so a consumer can tell "not read" from
"empty".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lbctl.providers.aws import names
from lbctl.providers.aws.spec import CidrRule, NodeRule, Target


@dataclass(frozen=True)
class Nlb:
    arn: str
    name: str
    dns_name: str
    vpc_id: str
    type: str
    scheme: str
    security_groups: tuple[str, ...]
    tags: Mapping[str, str]
    #: read per load balancer, None when not read
    listeners: tuple[Listener, ...] | None = None
    cross_zone: bool | None = None

    @property
    def eip_allocation(self) -> str | None:
        return self.tags.get(names.EIP_TAG)


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    protocol: str
    target_group_arn: str | None


@dataclass(frozen=True)
class Health:
    protocol: str
    port: str
    path: str | None


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    protocol: str
    health: Health
    tags: Mapping[str, str]
    #: read per target group, None when not read
    sticky: bool | None = None
    targets: frozenset[Target] | None = None


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str
    tags: Mapping[str, str]
    cidr_rules: frozenset[CidrRule]
    #: rules in this group that admit another group: source group id -> rules
    group_rules: Mapping[str, frozenset[NodeRule]]

    def admitting(self, source: str) -> frozenset[NodeRule]:
        return self.group_rules.get(source, frozenset())


@dataclass(frozen=True)
class Address:
    allocation_id: str
    public_ip: str
    association_id: str | None


@dataclass(frozen=True)
class Subnet:
    id: str
    zone: str
    vpc_id: str
    tags: Mapping[str, str]


@dataclass
class Resources:
    """One Service's resources; a working copy that converging updates in place."""

    uid: str
    lb: Nlb | None = None
    target_groups: dict[str, TargetGroup] = field(default_factory=dict)
    sg: SecurityGroup | None = None

    @property
    def empty(self) -> bool:
        return self.lb is None and not self.target_groups and self.sg is None

    def copy(self) -> Resources:
        return replace(self, target_groups=dict(self.target_groups))


# -- translation from API responses ------------------------------------------


def nlb_from_api(data: Mapping[str, Any], tags: Mapping[str, str]) -> Nlb:
    return Nlb(
        arn=data["LoadBalancerArn"],
        name=data["LoadBalancerName"],
        dns_name=data.get("DNSName", ""),
        vpc_id=data.get("VpcId", ""),
        type=data.get("Type", ""),
        scheme=data.get("Scheme", ""),
        security_groups=tuple(data.get("SecurityGroups") or ()),
        tags=dict(tags),
    )


def listener_from_api(data: Mapping[str, Any]) -> Listener:
    forward = [a for a in data.get("DefaultActions") or () if a.get("Type") == "forward"]
    return Listener(
        arn=data["ListenerArn"],
        port=int(data["Port"]),
        protocol=data["Protocol"],
        target_group_arn=forward[0].get("TargetGroupArn") if len(forward) == 1 else None,
    )


def target_group_from_api(data: Mapping[str, Any], tags: Mapping[str, str]) -> TargetGroup:
    return TargetGroup(
        arn=data["TargetGroupArn"],
        name=data["TargetGroupName"],
        protocol=data.get("Protocol", ""),
        health=Health(
            protocol=data.get("HealthCheckProtocol", ""),
            port=str(data.get("HealthCheckPort", "")),
            path=data.get("HealthCheckPath"),
        ),
        tags=dict(tags),
    )


def sticky_from_api(attributes: list[Mapping[str, Any]]) -> bool:
    values = {a["Key"]: a.get("Value") for a in attributes}
    return values.get("stickiness.enabled") == "true" and values.get("stickiness.type") in (
        None,
        "source_ip",
    )


def cross_zone_from_api(attributes: list[Mapping[str, Any]]) -> bool:
    values = {a["Key"]: a.get("Value") for a in attributes}
    return values.get("load_balancing.cross_zone.enabled") == "true"


def targets_from_api(descriptions: list[Mapping[str, Any]]) -> frozenset[Target]:
    """Registered targets; draining ones are already on their way out."""
    return frozenset(
        Target(d["Target"]["Id"], int(d["Target"]["Port"]))
        for d in descriptions
        if (d.get("TargetHealth") or {}).get("State") != "draining"
    )


def security_group_from_api(data: Mapping[str, Any]) -> SecurityGroup:
    cidr: set[CidrRule] = set()
    groups: dict[str, set[NodeRule]] = {}
    for perm in data.get("IpPermissions") or ():
        protocol, low, high = perm.get("IpProtocol"), perm.get("FromPort"), perm.get("ToPort")
        if protocol not in ("tcp", "udp") or low is None or high is None:
            continue
        for pair in perm.get("UserIdGroupPairs") or ():
            groups.setdefault(pair["GroupId"], set()).add(NodeRule(protocol, int(low), int(high)))
        if low == high:
            for ip_range in perm.get("IpRanges") or ():
                cidr.add(CidrRule(protocol, int(low), ip_range["CidrIp"]))
    return SecurityGroup(
        id=data["GroupId"],
        name=data.get("GroupName", ""),
        vpc_id=data.get("VpcId", ""),
        tags=names.tag_dict(data.get("Tags")),
        cidr_rules=frozenset(cidr),
        group_rules={k: frozenset(v) for k, v in groups.items()},
    )


def address_from_api(data: Mapping[str, Any]) -> Address:
    return Address(
        allocation_id=data.get("AllocationId", ""),
        public_ip=data.get("PublicIp", ""),
        association_id=data.get("AssociationId") or data.get("NetworkInterfaceId") or None,
    )


def subnet_from_api(data: Mapping[str, Any]) -> Subnet:
    return Subnet(
        id=data["SubnetId"],
        zone=data.get("AvailabilityZone", ""),
        vpc_id=data.get("VpcId", ""),
        tags=names.tag_dict(data.get("Tags")),
    )


# -- permissions in EC2's shape ------------------------------------------------


def cidr_permissions(rules: frozenset[CidrRule]) -> list[dict[str, Any]]:
    """Rules grouped into EC2 IpPermissions, one per (protocol, port)."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for rule in sorted(rules):
        grouped.setdefault((rule.ip_protocol, rule.port), []).append(rule.cidr)
    return [
        {
            "IpProtocol": protocol,
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": c} for c in cidrs],
        }
        for (protocol, port), cidrs in grouped.items()
    ]


def group_permissions(rules: frozenset[NodeRule], source_group: str) -> list[dict[str, Any]]:
    return [
        {
            "IpProtocol": rule.ip_protocol,
            "FromPort": rule.low,
            "ToPort": rule.high,
            "UserIdGroupPairs": [{"GroupId": source_group}],
        }
        for rule in sorted(rules)
    ]
