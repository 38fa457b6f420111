"""The two `Sink`s: `ApiSink` mutates AWS, `PlanSink` only writes down what it would do.

`ApiSink` calls `begin()` once, before its first mutation, so the inventory
knows the Service's snapshot may be stale until the reconcile commits. It
creates every resource with its ownership tags in the same call (no window
in which a resource exists untagged), and treats a name collision with a
resource of ours (a create repeated after a crash the snapshot missed) as
adoption, never as a second resource.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from lbcommon.errors import ProviderError
from lbcommon.model import Action, Change
from lbctl.providers.aws import names, state
from lbctl.providers.aws.api import AwsApi
from lbctl.providers.aws.converge import Placement
from lbctl.providers.aws.spec import CidrRule, NlbSpec, NodeRule, PortSpec, Target
from lbctl.providers.aws.state import Health, Listener, Nlb, SecurityGroup, TargetGroup

log = logging.getLogger(__name__)

NOT_FOUND_LB = frozenset({"LoadBalancerNotFound"})
NOT_FOUND_TG = frozenset({"TargetGroupNotFound"})
NOT_FOUND_LISTENER = frozenset({"ListenerNotFound"})
NOT_FOUND_SG = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
NOT_FOUND_RULE = NOT_FOUND_SG | {"InvalidPermission.NotFound"}


class ApiSink:
    """Performs each mutation against AWS."""

    def __init__(
        self,
        api: AwsApi,
        *,
        cluster_id: str,
        service: str,
        begin: Callable[[], None],
        read_tg_details: Callable[[TargetGroup], TargetGroup],
    ) -> None:
        self._api = api
        self._log_extra = {"service": service, "provider": "aws"}
        self._cluster_id = cluster_id
        self._begin = begin
        self._begun = False
        self._read_tg_details = read_tg_details

    def _call(self, service: Any, operation: str, **params: Any) -> dict[str, Any]:
        if not self._begun:
            self._begin()
            self._begun = True
        log.info("%s.%s", service, operation, extra=self._log_extra)
        return self._api.call(service, operation, **params)

    @property
    def mutated(self) -> bool:
        return self._begun

    # -- security groups ----------------------------------------------------

    def create_security_group(
        self, name: str, *, description: str, vpc_id: str, tags: Mapping[str, str]
    ) -> SecurityGroup:
        reply = self._call(
            "ec2",
            "CreateSecurityGroup",
            ok_codes=frozenset({"InvalidGroup.Duplicate"}),
            GroupName=name,
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": names.tag_list(tags)}],
        )
        if not reply:
            return self._adopt_group(name, vpc_id, tags)
        return SecurityGroup(reply["GroupId"], name, vpc_id, dict(tags), frozenset(), {})

    def _adopt_group(self, name: str, vpc_id: str, tags: Mapping[str, str]) -> SecurityGroup:
        """The group an earlier, lost create made, if its tags say it is this one."""
        reply = self._api.call(
            "ec2",
            "DescribeSecurityGroups",
            Filters=[
                {"Name": "group-name", "Values": [name]},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ],
        )
        for data in reply.get("SecurityGroups", []):
            group = state.security_group_from_api(data)
            if tags.items() <= group.tags.items():
                return group
        raise ProviderError(f"security group {name} exists in {vpc_id} but is not ours")

    def authorize_cidrs(self, sg: SecurityGroup, rules: frozenset[CidrRule]) -> None:
        self._call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ok_codes=frozenset({"InvalidPermission.Duplicate"}),
            GroupId=sg.id,
            IpPermissions=state.cidr_permissions(rules),
        )

    def revoke_cidrs(self, sg: SecurityGroup, rules: frozenset[CidrRule]) -> None:
        self._call(
            "ec2",
            "RevokeSecurityGroupIngress",
            ok_codes=NOT_FOUND_RULE,
            GroupId=sg.id,
            IpPermissions=state.cidr_permissions(rules),
        )

    def authorize_node_rules(self, group: str, source: str, rules: frozenset[NodeRule]) -> None:
        self._call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ok_codes=frozenset({"InvalidPermission.Duplicate"}),
            GroupId=group,
            IpPermissions=state.group_permissions(rules, source),
        )

    def revoke_node_rules(self, group: str, source: str, rules: frozenset[NodeRule]) -> None:
        self._call(
            "ec2",
            "RevokeSecurityGroupIngress",
            ok_codes=NOT_FOUND_RULE,
            GroupId=group,
            IpPermissions=state.group_permissions(rules, source),
        )

    def delete_security_group(self, sg: SecurityGroup) -> None:
        self._call("ec2", "DeleteSecurityGroup", ok_codes=NOT_FOUND_SG, GroupId=sg.id)

    # -- the load balancer --------------------------------------------------

    def create_load_balancer(
        self, spec: NlbSpec, groups: tuple[str, ...], placement: Placement
    ) -> Nlb:
        tags = dict(spec.tags)
        where: dict[str, Any]
        if placement.allocation:
            tags[names.EIP_TAG] = placement.allocation
            where = {
                "SubnetMappings": [
                    {"SubnetId": s, "AllocationId": placement.allocation} for s in placement.subnets
                ]
            }
        else:
            where = {"Subnets": list(placement.subnets)}
        reply = self._call(
            "elbv2",
            "CreateLoadBalancer",
            Name=spec.name,
            Type="network",
            Scheme="internet-facing",
            IpAddressType="ipv4",
            SecurityGroups=list(groups),
            Tags=names.tag_list(tags),
            **where,
        )
        created = state.nlb_from_api(reply["LoadBalancers"][0], tags)
        return replace(created, listeners=(), cross_zone=False)

    def set_security_groups(self, lb: Nlb, groups: tuple[str, ...]) -> None:
        self._call(
            "elbv2", "SetSecurityGroups", LoadBalancerArn=lb.arn, SecurityGroups=list(groups)
        )

    def set_cross_zone(self, lb: Nlb) -> None:
        self._call(
            "elbv2",
            "ModifyLoadBalancerAttributes",
            LoadBalancerArn=lb.arn,
            Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
        )

    def delete_load_balancer(self, lb: Nlb) -> None:
        self._call("elbv2", "DeleteLoadBalancer", ok_codes=NOT_FOUND_LB, LoadBalancerArn=lb.arn)

    # -- target groups --------------------------------------------------------

    def create_target_group(self, spec: NlbSpec, port: PortSpec, vpc_id: str) -> TargetGroup:
        tags = dict(spec.tags)
        reply = self._call(
            "elbv2",
            "CreateTargetGroup",
            ok_codes=frozenset({"DuplicateTargetGroupName"}),
            Name=port.tg_name,
            Protocol=port.protocol.value,
            Port=port.node_port,
            VpcId=vpc_id,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPort=str(spec.health.port),
            HealthCheckPath=spec.health.path,
            Tags=names.tag_list(tags),
        )
        if not reply:
            return self._adopt_target_group(spec, port)
        created = state.target_group_from_api(reply["TargetGroups"][0], tags)
        return replace(created, sticky=False, targets=frozenset())

    def _adopt_target_group(self, spec: NlbSpec, port: PortSpec) -> TargetGroup:
        reply = self._api.call("elbv2", "DescribeTargetGroups", Names=[port.tg_name])
        data = reply["TargetGroups"][0]
        tags = self._api.call("elbv2", "DescribeTags", ResourceArns=[data["TargetGroupArn"]])
        tag_map = names.tag_dict(tags["TagDescriptions"][0].get("Tags"))
        owner = names.owner_from_tags(tag_map, self._cluster_id)
        if owner is None or owner.uid != spec.uid:
            raise ProviderError(f"target group {port.tg_name} exists but is not ours")
        return self._read_tg_details(state.target_group_from_api(data, tag_map))

    def set_health(self, tg: TargetGroup, health: Health) -> None:
        self._call(
            "elbv2",
            "ModifyTargetGroup",
            TargetGroupArn=tg.arn,
            HealthCheckProtocol=health.protocol,
            HealthCheckPort=health.port,
            HealthCheckPath=health.path or "/",
        )

    def set_sticky(self, tg: TargetGroup, sticky: bool) -> None:
        attributes = [{"Key": "stickiness.enabled", "Value": "true" if sticky else "false"}]
        if sticky:
            attributes.append({"Key": "stickiness.type", "Value": "source_ip"})
        self._call(
            "elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=tg.arn, Attributes=attributes
        )

    def register(self, tg: TargetGroup, targets: frozenset[Target]) -> None:
        self._call("elbv2", "RegisterTargets", TargetGroupArn=tg.arn, Targets=_targets(targets))

    def deregister(self, tg: TargetGroup, targets: frozenset[Target]) -> None:
        self._call(
            "elbv2",
            "DeregisterTargets",
            ok_codes=frozenset({"InvalidTarget"}),
            TargetGroupArn=tg.arn,
            Targets=_targets(targets),
        )

    def delete_target_group(self, tg: TargetGroup) -> None:
        self._call("elbv2", "DeleteTargetGroup", ok_codes=NOT_FOUND_TG, TargetGroupArn=tg.arn)

    # -- listeners ----------------------------------------------------------

    def create_listener(self, lb: Nlb, port: PortSpec, tg: TargetGroup) -> Listener:
        reply = self._call(
            "elbv2",
            "CreateListener",
            LoadBalancerArn=lb.arn,
            Protocol=port.protocol.value,
            Port=port.port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg.arn}],
        )
        return state.listener_from_api(reply["Listeners"][0])

    def modify_listener(self, listener: Listener, tg: TargetGroup) -> None:
        self._call(
            "elbv2",
            "ModifyListener",
            ListenerArn=listener.arn,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg.arn}],
        )

    def delete_listener(self, listener: Listener) -> None:
        self._call("elbv2", "DeleteListener", ok_codes=NOT_FOUND_LISTENER, ListenerArn=listener.arn)


def _targets(targets: frozenset[Target]) -> list[dict[str, Any]]:
    return [{"Id": t.instance_id, "Port": t.port} for t in sorted(targets)]


class PlanSink:
    """Records each mutation as a Change; returns placeholders; calls nothing."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def _note(self, action: Action, kind: str, name: str, detail: str = "") -> None:
        self.changes.append(Change(action, kind, name, detail))

    def create_security_group(
        self, name: str, *, description: str, vpc_id: str, tags: Mapping[str, str]
    ) -> SecurityGroup:
        self._note(Action.CREATE, "security-group", name, f"in {vpc_id}")
        return SecurityGroup(f"({name})", name, vpc_id, dict(tags), frozenset(), {})

    def authorize_cidrs(self, sg: SecurityGroup, rules: frozenset[CidrRule]) -> None:
        self._note(Action.UPDATE, "security-group", sg.name, "allow " + _cidrs(rules))

    def revoke_cidrs(self, sg: SecurityGroup, rules: frozenset[CidrRule]) -> None:
        self._note(Action.UPDATE, "security-group", sg.name, "revoke " + _cidrs(rules))

    def authorize_node_rules(self, group: str, source: str, rules: frozenset[NodeRule]) -> None:
        detail = f"allow {_ports(rules)} from {source}"
        self._note(Action.UPDATE, "node-security-group", group, detail)

    def revoke_node_rules(self, group: str, source: str, rules: frozenset[NodeRule]) -> None:
        detail = f"revoke {_ports(rules)} from {source}"
        self._note(Action.UPDATE, "node-security-group", group, detail)

    def delete_security_group(self, sg: SecurityGroup) -> None:
        self._note(Action.DELETE, "security-group", sg.name, sg.id)

    def create_load_balancer(
        self, spec: NlbSpec, groups: tuple[str, ...], placement: Placement
    ) -> Nlb:
        where = ", ".join(placement.subnets)
        eip = f" with Elastic IP {placement.allocation}" if placement.allocation else ""
        self._note(Action.CREATE, "load-balancer", spec.name, f"network, in {where}{eip}")
        tags = dict(spec.tags)
        if placement.allocation:
            tags[names.EIP_TAG] = placement.allocation
        return Nlb("(new)", spec.name, "", "(vpc)", "network", "internet-facing", groups, tags, ())

    def set_security_groups(self, lb: Nlb, groups: tuple[str, ...]) -> None:
        detail = "security groups -> " + ", ".join(groups)
        self._note(Action.UPDATE, "load-balancer", lb.name, detail)

    def set_cross_zone(self, lb: Nlb) -> None:
        self._note(Action.UPDATE, "load-balancer", lb.name, "enable cross-zone load balancing")

    def delete_load_balancer(self, lb: Nlb) -> None:
        self._note(Action.DELETE, "load-balancer", lb.name)

    def create_target_group(self, spec: NlbSpec, port: PortSpec, vpc_id: str) -> TargetGroup:
        self._note(
            Action.CREATE,
            "target-group",
            port.tg_name,
            f"{port.protocol} node port {port.node_port}",
        )
        health = Health("HTTP", str(spec.health.port), spec.health.path)
        return TargetGroup(
            "(new)", port.tg_name, port.protocol.value, health, {}, False, frozenset()
        )

    def set_health(self, tg: TargetGroup, health: Health) -> None:
        self._note(
            Action.UPDATE,
            "target-group",
            tg.name,
            f"health check {health.protocol}:{health.port}{health.path}",
        )

    def set_sticky(self, tg: TargetGroup, sticky: bool) -> None:
        detail = "stickiness source_ip" if sticky else "no stickiness"
        self._note(Action.UPDATE, "target-group", tg.name, detail)

    def register(self, tg: TargetGroup, targets: frozenset[Target]) -> None:
        self._note(Action.UPDATE, "target-group", tg.name, "register " + _target_list(targets))

    def deregister(self, tg: TargetGroup, targets: frozenset[Target]) -> None:
        self._note(Action.UPDATE, "target-group", tg.name, "deregister " + _target_list(targets))

    def delete_target_group(self, tg: TargetGroup) -> None:
        self._note(Action.DELETE, "target-group", tg.name)

    def create_listener(self, lb: Nlb, port: PortSpec, tg: TargetGroup) -> Listener:
        self._note(
            Action.CREATE, "listener", f"{lb.name}:{port.port}", f"{port.protocol} -> {tg.name}"
        )
        return Listener("(new)", port.port, port.protocol.value, tg.arn)

    def modify_listener(self, listener: Listener, tg: TargetGroup) -> None:
        self._note(Action.UPDATE, "listener", str(listener.port), f"forward to {tg.name}")

    def delete_listener(self, listener: Listener) -> None:
        self._note(Action.DELETE, "listener", str(listener.port), listener.protocol)


def _cidrs(rules: frozenset[CidrRule]) -> str:
    return ", ".join(f"{r.ip_protocol}/{r.port} from {r.cidr}" for r in sorted(rules))


def _ports(rules: frozenset[NodeRule]) -> str:
    return ", ".join(
        f"{r.ip_protocol}/{r.low}" + (f"-{r.high}" if r.high != r.low else "")
        for r in sorted(rules)
    )


def _target_list(targets: frozenset[Target]) -> str:
    return ", ".join(f"{t.instance_id}:{t.port}" for t in sorted(targets))
